# Set-up shared by the .ci scripts (sourced, not run): the Debian packages a
# script uses, and virtual environments, so that each script passes on a
# fresh machine.

# apt_install PACKAGE ...
apt_install() {
    echo "== apt-get install $*"
    if [ "$(id -u)" -ne 0 ]; then
        echo "missing tools; install them as root: apt-get install -y $*" >&2
        return 2
    fi
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

# debian_packages COMMAND:PACKAGE ...
#   Install the Debian package of every command that is missing.
debian_packages() {
    local missing=() pair
    for pair in "$@"; do
        command -v "${pair%%:*}" >/dev/null 2>&1 || missing+=("${pair#*:}")
    done
    ((${#missing[@]} == 0)) || apt_install "${missing[@]}"
}

# python_venv DIR
#   A new virtual environment of $PYTHON (default python3) in DIR.  Debian's
#   own python3 makes one only with the package python3-venv.
python_venv() {
    local python="${PYTHON:-python3}"
    if ! "$python" -c "import ensurepip, venv" >/dev/null 2>&1; then
        apt_install python3-venv
    fi
    "$python" -m venv "$1"
}

# fastdrop_venv DIR TREE
#   python_venv DIR with the source tree TREE installed in development mode
#   (its extension built in TREE, with the FASTDROP_* switches of the
#   caller's environment), its test extra, and the example plugin.  Pip's
#   output goes to DIR/install.log, shown on failure.
fastdrop_venv() {
    local dir="$1" tree="$2"
    python_venv "$dir"
    { "$dir/bin/python" -m pip install -e "$tree[test]" \
        && "$dir/bin/python" -m pip install "$tree/plugins/fastdrop-example-plugin"; } >"$dir/install.log" 2>&1 \
        || { tail -60 "$dir/install.log" >&2; return 1; }
}
