package email

import (
	"bufio"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// script says how the in-process SMTP server answers; an empty field is
// the usual success. A reply may hold %s: AUTH replies get the client's
// credentials there, as a careless server would echo them.
type script struct {
	Greeting string // default "220 test ESMTP"
	Auth     string // reply to the last step of AUTH; default "235 2.7.0 ok"
	Mail     string
	Rcpt     string
	Data     string // reply after the message's final dot
	Rset     string
	Mechs    string // AUTH mechanisms offered; default "PLAIN LOGIN"
	Silent   bool   // accept the connection and say nothing
}

// smtpServer is a small SMTP server on loopback that answers as its script
// says and records what it was told.
type smtpServer struct {
	Host string
	Port int
	// accepted gets a value for each connection.
	accepted chan struct{}

	mu    sync.Mutex
	lines []string
}

func serveSMTP(t testing.TB, s script) *smtpServer {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &smtpServer{Host: "127.0.0.1", Port: l.Addr().(*net.TCPAddr).Port, accepted: make(chan struct{}, 16)}
	var wg sync.WaitGroup
	var conns sync.Map
	t.Cleanup(func() {
		l.Close()
		conns.Range(func(k, _ any) bool { k.(net.Conn).Close(); return true })
		wg.Wait()
	})
	wg.Go(func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			conns.Store(c, true)
			srv.accepted <- struct{}{}
			wg.Go(func() {
				defer c.Close()
				srv.session(c, s)
			})
		}
	})
	return srv
}

func (srv *smtpServer) Addr() string { return net.JoinHostPort(srv.Host, strconv.Itoa(srv.Port)) }

// Lines returns every line the client sent.
func (srv *smtpServer) Lines() []string {
	srv.mu.Lock()
	defer srv.mu.Unlock()
	return append([]string(nil), srv.lines...)
}

func (srv *smtpServer) session(c net.Conn, s script) {
	if s.Silent {
		_, _ = bufio.NewReader(c).ReadString(0)
		return
	}
	r := bufio.NewReader(c)
	reply := func(format string, args ...any) {
		fmt.Fprintf(c, format+"\r\n", args...)
	}
	or := func(s, def string) string {
		if s == "" {
			return def
		}
		return s
	}
	read := func() (string, bool) {
		line, err := r.ReadString('\n')
		if err != nil {
			return "", false
		}
		line = strings.TrimRight(line, "\r\n")
		srv.mu.Lock()
		srv.lines = append(srv.lines, line)
		srv.mu.Unlock()
		return line, true
	}
	greeting := or(s.Greeting, "220 test ESMTP")
	reply("%s", greeting)
	if !strings.HasPrefix(greeting, "2") {
		return
	}
	for {
		line, ok := read()
		if !ok {
			return
		}
		verb, arg, _ := strings.Cut(line, " ")
		switch strings.ToUpper(verb) {
		case "EHLO":
			reply("250-test\r\n250-AUTH %s\r\n250-ENHANCEDSTATUSCODES\r\n250 8BITMIME", or(s.Mechs, "PLAIN LOGIN"))
		case "HELO":
			reply("250 test")
		case "AUTH":
			mech, cred, _ := strings.Cut(arg, " ")
			if strings.EqualFold(mech, "LOGIN") {
				reply("334 VXNlcm5hbWU6")
				user, _ := read()
				reply("334 UGFzc3dvcmQ6")
				pass, _ := read()
				cred = user + " " + pass
			}
			a := or(s.Auth, "235 2.7.0 ok")
			if strings.Contains(a, "%s") {
				a = fmt.Sprintf(a, cred)
			}
			reply("%s", a)
		case "MAIL":
			reply("%s", or(s.Mail, "250 2.1.0 ok"))
		case "RCPT":
			reply("%s", or(s.Rcpt, "250 2.1.5 ok"))
		case "DATA":
			reply("354 go ahead")
			for {
				l, ok := read()
				if !ok || l == "." {
					break
				}
			}
			reply("%s", or(s.Data, "250 2.0.0 ok: queued as 42"))
		case "RSET":
			reply("%s", or(s.Rset, "250 2.0.0 ok"))
		case "NOOP":
			reply("250 2.0.0 ok")
		case "QUIT":
			reply("221 2.0.0 bye")
			return
		default:
			reply("502 5.5.2 not implemented")
		}
	}
}
