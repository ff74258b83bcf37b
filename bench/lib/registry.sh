# shellcheck shell=bash
# A docker-registry on a free 127.0.0.1 port for the benchmarks, its storage in DIR (put it on
# tmpfs: the registry's disk is not what is measured), stopped by stop_registry (call it from
# the bench's EXIT trap).
#
#   . bench/lib/registry.sh
#   start_registry DIR          # sets registry_port and registry_pid
#   free_port                   # prints a free loopback port

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

start_registry() {
    local dir=$1
    mkdir -p "$dir"
    registry_port=$(free_port)
    cat > "$dir/registry.yml" <<YML
version: 0.1
log: {level: error, accesslog: {disabled: true}}
storage: {filesystem: {rootdirectory: $dir/storage}}
http: {addr: 127.0.0.1:$registry_port}
YML
    docker-registry serve "$dir/registry.yml" > "$dir/registry.log" 2>&1 &
    registry_pid=$!
    for _ in $(seq 100); do
        curl -sf "http://127.0.0.1:$registry_port/v2/" >/dev/null && return 0
        sleep 0.1
    done
    echo "bench: the registry did not start (see $dir/registry.log)" >&2
    return 1
}

stop_registry() {
    if [ -n "${registry_pid:-}" ]; then
        kill "$registry_pid" 2>/dev/null || true
        wait "$registry_pid" 2>/dev/null || true
        registry_pid=
    fi
}
