# shellcheck shell=bash
# Database servers for the sqlstore tests: PostgreSQL and MariaDB, on this
# machine, without systemd.
#
# Source it (from .ci/run, or by hand):
#
#   source .ci/services.sh
#
# It installs postgresql and mariadb-server with apt-get when they are
# missing, starts both servers when they are not running, creates the role
# "invite" (password "invite") and the database "invite_test" on each, and
# exports:
#
#   INVITE_POSTGRES_DSN  postgres://invite:invite@127.0.0.1:<port>/invite_test?sslmode=disable
#   INVITE_MYSQL_DSN     invite:invite@tcp(127.0.0.1:3306)/invite_test?parseTime=true&loc=UTC&interpolateParams=true
#
# Every step is idempotent: sourcing it twice, or with the servers already
# running, changes nothing and exports the same values. It needs root (apt-get,
# starting the servers, peer/socket authentication as the admin users). Run as
# a program instead of sourced, it prints the export lines, for
# eval "$(bash .ci/services.sh)".
#
# The servers are test servers: the invite role commits without waiting for
# the WAL flush (synchronous_commit=off, set on the role only), and MariaDB
# flushes its redo log once a second (innodb_flush_log_at_trx_commit=2). A
# crash may lose the last second of test data, nothing else.

_invite_log() { echo "services.sh: $*" >&2; }

# _invite_apt_install installs the given Debian packages, running
# apt-get update first when the package lists are empty, and once more when
# the install fails on stale lists.
_invite_apt_install() {
  [ "$#" -gt 0 ] || return 0
  export DEBIAN_FRONTEND=noninteractive
  if ! compgen -G '/var/lib/apt/lists/*_Packages' >/dev/null; then
    _invite_log "apt-get update"
    apt-get update -q >/dev/null || return 1
  fi
  _invite_log "apt-get install $*"
  if ! apt-get install -y -q --no-install-recommends "$@" >/dev/null; then
    apt-get update -q >/dev/null || return 1
    apt-get install -y -q --no-install-recommends "$@" >/dev/null || return 1
  fi
}

# _invite_wait runs the given command every 0.25 s until it succeeds, for at
# most 60 s.
_invite_wait() {
  local i
  for ((i = 0; i < 240; i++)); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 0.25
  done
  return 1
}

_invite_postgres() {
  local line ver cluster port
  # The first cluster pg_lsclusters lists: Debian's package creates <major>/main.
  line=$(pg_lsclusters -h 2>/dev/null | head -n 1)
  if [ -z "$line" ]; then
    ver=$(ls /usr/lib/postgresql | sort -n | tail -n 1)
    [ -n "$ver" ] || { _invite_log "no PostgreSQL server binaries in /usr/lib/postgresql"; return 1; }
    _invite_log "pg_createcluster $ver main"
    pg_createcluster "$ver" main >/dev/null || return 1
    line=$(pg_lsclusters -h | head -n 1)
  fi
  read -r ver cluster port _ <<<"$line"
  if ! pg_isready -q -h 127.0.0.1 -p "$port"; then
    _invite_log "starting PostgreSQL $ver/$cluster on port $port"
    # "start" fails when the cluster is already starting: wait for it anyway.
    pg_ctlcluster "$ver" "$cluster" start || true
    _invite_wait pg_isready -q -h 127.0.0.1 -p "$port" || { _invite_log "PostgreSQL did not come up"; return 1; }
  fi
  # psql as the postgres superuser over the socket (peer authentication).
  # Run from / so psql need not read the caller's working directory.
  local psql=(runuser -u postgres -- psql -X -q -v ON_ERROR_STOP=1 -p "$port" -d postgres)
  (cd / && "${psql[@]}" >/dev/null) <<'SQL' || { _invite_log "creating the PostgreSQL role failed"; return 1; }
DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'invite') THEN
    CREATE ROLE invite LOGIN PASSWORD 'invite';
  END IF;
END $$;
ALTER ROLE invite SET synchronous_commit = off;
SQL
  if [ "$(cd / && "${psql[@]}" -tA -c "SELECT 1 FROM pg_database WHERE datname = 'invite_test'")" != 1 ]; then
    (cd / && "${psql[@]}" -c 'CREATE DATABASE invite_test OWNER invite') || { _invite_log "creating the PostgreSQL database failed"; return 1; }
  fi
  export INVITE_POSTGRES_DSN="postgres://invite:invite@127.0.0.1:${port}/invite_test?sslmode=disable"
}

_invite_mariadb() {
  if ! mysqladmin --protocol=socket -uroot ping >/dev/null 2>&1; then
    _invite_log "starting MariaDB"
    if [ -x /etc/init.d/mariadb ]; then
      /etc/init.d/mariadb start >/dev/null 2>&1 || true
    fi
    if ! _invite_wait mysqladmin --protocol=socket -uroot ping; then
      # No init script, or it gave up: run the server directly.
      install -d -o mysql -g mysql /run/mysqld
      (nohup mysqld_safe --user=mysql >/dev/null 2>&1 &)
      _invite_wait mysqladmin --protocol=socket -uroot ping || { _invite_log "MariaDB did not come up"; return 1; }
    fi
  fi
  # root authenticates through the socket (unix_socket plugin) as root.
  mysql --protocol=socket -uroot <<'SQL' || { _invite_log "creating the MariaDB user failed"; return 1; }
CREATE DATABASE IF NOT EXISTS invite_test CHARACTER SET utf8mb4 COLLATE utf8mb4_bin;
CREATE USER IF NOT EXISTS 'invite'@'127.0.0.1' IDENTIFIED BY 'invite';
CREATE USER IF NOT EXISTS 'invite'@'localhost' IDENTIFIED BY 'invite';
GRANT ALL PRIVILEGES ON invite_test.* TO 'invite'@'127.0.0.1';
GRANT ALL PRIVILEGES ON invite_test.* TO 'invite'@'localhost';
SET GLOBAL innodb_flush_log_at_trx_commit = 2;
SQL
  export INVITE_MYSQL_DSN="invite:invite@tcp(127.0.0.1:3306)/invite_test?parseTime=true&loc=UTC&interpolateParams=true"
}

_invite_services() {
  local need=()
  command -v pg_ctlcluster >/dev/null 2>&1 && compgen -G '/usr/lib/postgresql/*/bin/postgres' >/dev/null || need+=(postgresql)
  command -v mysqld_safe >/dev/null 2>&1 || need+=(mariadb-server)
  _invite_apt_install "${need[@]}" || { _invite_log "apt-get install ${need[*]} failed"; return 1; }
  _invite_postgres || return 1
  _invite_mariadb || return 1
  _invite_log "INVITE_POSTGRES_DSN=$INVITE_POSTGRES_DSN"
  _invite_log "INVITE_MYSQL_DSN=$INVITE_MYSQL_DSN"
}

if (return 0 2>/dev/null); then
  # Sourced: export into the caller's shell, without touching its options.
  _invite_services || return 1
else
  set -euo pipefail
  _invite_services
  printf 'export INVITE_POSTGRES_DSN=%q\nexport INVITE_MYSQL_DSN=%q\n' "$INVITE_POSTGRES_DSN" "$INVITE_MYSQL_DSN"
fi
