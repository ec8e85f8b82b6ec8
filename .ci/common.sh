# Set-up shared by the .ci scripts (sourced, not run): the Debian packages a
# script uses, and a virtual environment with fastdrop installed, so that
# each script passes on a fresh machine.

# debian_packages COMMAND:PACKAGE ...
#   Install (apt-get) the Debian package of every command that is missing.
debian_packages() {
    local missing=() pair
    for pair in "$@"; do
        command -v "${pair%%:*}" >/dev/null 2>&1 || missing+=("${pair#*:}")
    done
    ((${#missing[@]})) || return 0
    echo "== apt-get install ${missing[*]}"
    if [ "$(id -u)" -ne 0 ]; then
        echo "missing tools; install them as root: apt-get install -y ${missing[*]}" >&2
        return 2
    fi
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
}

# fastdrop_venv DIR TREE
#   A new virtual environment in DIR with the source tree TREE installed in
#   development mode (its extension built in TREE, with the FASTDROP_*
#   switches of the caller's environment), its test extra, and the example
#   plugin.  Pip's output goes to DIR/install.log, shown on failure.
fastdrop_venv() {
    local dir="$1" tree="$2"
    "${PYTHON:-python3}" -m venv "$dir"
    { "$dir/bin/python" -m pip install -e "$tree[test]" \
        && "$dir/bin/python" -m pip install "$tree/plugins/fastdrop-example-plugin"; } >"$dir/install.log" 2>&1 \
        || { tail -60 "$dir/install.log" >&2; return 1; }
}
