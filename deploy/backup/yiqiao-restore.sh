#!/bin/sh
# Restore the hub from yiqiao-backup.sh's output into an EMPTY database and data folder,
# then check that every blob the database names is present with the right size.
# Stop the hub instances first (systemctl stop yiqiao-hub.target).
#
# usage: yiqiao-restore.sh DUMP_FILE      (reads YIQIAO_HUB_DB, YIQIAO_DATA, YIQIAO_BACKUP)
set -eu
dump=${1:?usage: yiqiao-restore.sh /srv/backup/yiqiao/db/yiqiao-<stamp>.dump}
: "${YIQIAO_HUB_DB:?set YIQIAO_HUB_DB=postgresql://... (an empty database)}"
DATA=${YIQIAO_DATA:-/srv/yiqiao}
SRC=${YIQIAO_BACKUP:-/srv/backup/yiqiao}
PY=${YIQIAO_PYTHON:-python3}
pg_restore --no-owner --exit-on-error --single-transaction --dbname="$YIQIAO_HUB_DB" "$dump"
mkdir -p "$DATA/blobs" "$DATA/uploads"
cp -a "$SRC/blobs/." "$DATA/blobs/"
"$PY" "$(dirname "$0")/verify_blobs.py" --db "$YIQIAO_HUB_DB" --data "$DATA"
