# Sourced by checks/soak.sh and checks/valgrind.sh: what a stage's node is and serves.

# The stage number is the NN of the directory the node was built in (build/NN-name/node).
stage_of() {
    local dir
    dir=$(basename "$(dirname "$1")")
    case "$dir" in
    [0-9][0-9]-*) echo $((10#${dir%%-*})) ;;
    *) echo 99 ;;
    esac
}

# The op mix of a stage: its read types on top of stage 00's read/write/cas.
mix_of() {
    case $1 in
    0) echo "read=50,write=30,cas=20" ;;
    1) echo "read=30,write=30,cas=15,follower_read=25" ;;
    2) echo "read=20,write=30,cas=15,follower_read=15,ryw_read=20" ;;
    *) echo "read=15,write=30,cas=15,follower_read=10,ryw_read=15,lease_read=15" ;;
    esac
}
