#!/bin/sh
# Restart hub instances one at a time (an upgrade without dropping the service): each one
# finishes its requests, its WebSocket clients reconnect through nginx to the others.
set -eu
for unit in $(systemctl list-units --plain --no-legend 'yiqiao-hub@*.service' | awk '{print $1}'); do
    port=${unit#yiqiao-hub@}; port=${port%.service}
    systemctl restart "$unit"
    i=0
    until curl -fsS "http://127.0.0.1:$port/readyz" >/dev/null 2>&1; do
        i=$((i + 1)); [ "$i" -le 60 ] || { echo "$unit not ready after 60 s" >&2; exit 1; }
        sleep 1
    done
done
