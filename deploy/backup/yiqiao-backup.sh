#!/bin/sh
# Back up the hub: the database (pg_dump custom format) THEN the blobs (rsync, new files only).
# The order matters: a blob file is renamed into place before its database row commits, so
# every blob the dump names is already on disk when the copy starts. Blobs are immutable and
# content-addressed: a copy that never overwrites (cp -n, or rsync --ignore-existing) only adds the new ones.
#
# usage: yiqiao-backup.sh            (reads YIQIAO_HUB_DB, YIQIAO_DATA, YIQIAO_BACKUP)
# cron:  15 2 * * *  yiqiao  . /etc/yiqiao/hub.env; /opt/yiqiao/deploy/backup/yiqiao-backup.sh
set -eu
: "${YIQIAO_HUB_DB:?set YIQIAO_HUB_DB=postgresql://...}"
DATA=${YIQIAO_DATA:-/srv/yiqiao}
DEST=${YIQIAO_BACKUP:-/srv/backup/yiqiao}
KEEP_DAYS=${YIQIAO_BACKUP_KEEP_DAYS:-30}
stamp=$(date -u +%Y%m%dT%H%M%SZ)
mkdir -p "$DEST/db" "$DEST/blobs"
pg_dump --format=custom --compress=6 --no-owner --file="$DEST/db/yiqiao-$stamp.dump.part" "$YIQIAO_HUB_DB"
mv "$DEST/db/yiqiao-$stamp.dump.part" "$DEST/db/yiqiao-$stamp.dump"
cp -a --no-clobber "$DATA/blobs/." "$DEST/blobs/"
find "$DEST/db" -name 'yiqiao-*.dump' -mtime +"$KEEP_DAYS" -delete
echo "backup $stamp: $(du -sh "$DEST/db/yiqiao-$stamp.dump" | cut -f1) database, $(find "$DEST/blobs" -type f | wc -l) blobs"
