package main

import (
	"context"
	"errors"
)

func runFlush(context.Context, *app, []string) error {
	return withCode(exitFailure, errors.New("flush: the outbox is not built yet"))
}
