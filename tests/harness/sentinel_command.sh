#!/bin/sh
# A host sentinel command for tests: sentinel_command.sh <sentinel-file> <hang-file>
# Exits 0 ("reboot required") when <sentinel-file> exists, 1 otherwise. While <hang-file> exists it hangs first:
# the daemon's --sentinel-command-timeout must kill it. The hang is bounded (120 s), so a copy orphaned by a
# kill -9 of the daemon does not outlive the test by long.
if [ -e "$2" ]; then exec sleep 120; fi
test -e "$1"
