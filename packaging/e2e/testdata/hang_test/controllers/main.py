import mmap
import time

from odoo import http
from odoo.http import request


class HangTest(http.Controller):

    @http.route('/hang_test/sleep', type='http', auth='public')
    def sleep(self, seconds='3600', **kw):
        time.sleep(float(seconds))
        return 'slept %s s' % seconds

    @http.route('/hang_test/query', type='http', auth='public')
    def query(self, seconds='3600', **kw):
        request.env.cr.execute("SELECT pg_sleep(%s)", [float(seconds)])
        return 'queried %s s' % seconds

    # A worker keeps the memory it mapped (address space, not touched):
    # past limit_memory_soft, which Odoo checks against the virtual size,
    # it is recycled after the request.
    _kept = []

    @http.route('/hang_test/map', type='http', auth='public')
    def map(self, mb='1600', **kw):
        HangTest._kept.append(mmap.mmap(-1, int(mb) << 20))
        return 'holding %d MB' % (sum(len(m) for m in HangTest._kept) >> 20)
