"""The order a run's checks go in, the same with lanes and without.

1. The checks that reset the device (AUTH-006, SURFACE-008) come first: the run's other
   checks then see a device that has just booted, and a check that runs alone (see
   `lanes`) holds no lane up when nothing has started yet. Later in the run each one cut
   the run's checks in two and left the other lanes idle while the console's checks
   before it finished (4 s of a demo run).
2. Then every check that leaves the device as it found it, in collection order.
3. Then ROBUST, which may take a service down (that is what it looks for), so that no
   check above judges a device a robustness check disturbed.
4. Last, UPDATE, which delivers images: no other check runs on a firmware an update
   check installed.

Within each group the collection order is kept (`list.sort` is stable).
"""

from __future__ import annotations

from harness.config import catalogue

RESETS_DEVICE = frozenset({"AUTH-006", "SURFACE-008"})  # through `serial.reset_command`
_LATE_FAMILIES = {catalogue.Family.ROBUST: 2, catalogue.Family.UPDATE: 3}


def rank(check_id: str | None) -> int:
    """The rank of a check's group: 0 to 3 in the order above. An item that is not a
    check of ours ranks with the checks of group 2."""
    if check_id is None or check_id not in catalogue.CATALOGUE:
        return 1
    if check_id in RESETS_DEVICE:
        return 0
    return _LATE_FAMILIES.get(catalogue.get(check_id).family, 1)
