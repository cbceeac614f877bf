import mmap
import time

from odoo import models

# Memory a worker keeps between requests, so that limit_memory_soft is
# reached after the request that grew it.
_held = []


class ResPartner(models.Model):
    _inherit = 'res.partner'

    def action_probe_sleep(self, seconds=10):
        """Wall time without CPU: limit_time_real."""
        time.sleep(seconds)
        return True

    def action_probe_spin(self, seconds=10):
        """CPU time: limit_time_cpu."""
        start = time.process_time()
        n = 0
        while time.process_time() - start < seconds:
            n += 1
        return n

    def action_probe_hold(self, mb=200):
        """Memory kept after the request: limit_memory_soft."""
        _held.append(bytearray(mb << 20))
        return len(_held)

    def action_probe_hog(self, mb=8192):
        """One allocation past limit_memory_hard: MemoryError."""
        return len(bytearray(mb << 20))

    def action_probe_touch(self, mb=512):
        """Memory really used (pages written), for the kernel's OOM killer."""
        b = bytearray(mb << 20)
        for i in range(0, len(b), 4096):
            b[i] = 1
        _held.append(b)
        return len(_held)

    def action_probe_fail(self):
        """An error Odoo logs as "Exception during request handling"."""
        raise ValueError('probe: failing on purpose')

    def action_probe_map(self, mb=1600):
        """Address space kept after the request, not one page of it used:
        limit_memory_soft is checked against virtual memory."""
        _held.append(mmap.mmap(-1, mb << 20))
        return len(_held)
