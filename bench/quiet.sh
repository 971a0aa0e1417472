# Sourced by the benchmark scripts (bench/run.sh, bench/http/run.sh, bench/grpc/run.sh): the
# quiet-machine windows of bench/quiet.py, which says what they measure and why.
#   quiet_calibrate <build dir>   builds the host-speed probe (bench/host_speed.cpp) and takes
#                                 the run's calibration (exports TETHER_HOST_SPEED_*)
#   token=$(quiet_window)         opens a window; the calling script's CPU and that of the
#                                 children it waits for count as the benchmark's own
#   quiet_end_window <token>      closes it: sets window_others, window_before,
#                                 window_after, window_slowdown; appends to quiet_windows
#                                 ("others:slowdown"), quiet_others, quiet_slowdowns, quiet_loads
#   quiet_judge                   sets quiet (1 or 0), others_limit and slowdown_limit from every
#                                 window so far
#   quiet_summary                 one line for the results: others-CPU, slowdown and load ranges
quiet_windows=() quiet_others=() quiet_slowdowns=() quiet_loads=()

quiet_calibrate() {
  cmake --build "$1" -j2 --target tether_host_speed >/dev/null
  export TETHER_HOST_SPEED_PROBE="$1/bench/tether_host_speed"
  TETHER_HOST_SPEED_REF=$(python3 bench/quiet.py calibrate)
  export TETHER_HOST_SPEED_REF
  echo "== host speed: $TETHER_HOST_SPEED_REF us per probe (CPU,memory; bench/host_speed.cpp)"
}

quiet_window() { python3 bench/quiet.py start $$; }

quiet_end_window() {
  read -r window_others window_before window_after window_slowdown \
    < <(python3 bench/quiet.py stop "$1")
  quiet_windows+=("$window_others:$window_slowdown") quiet_others+=("$window_others")
  quiet_slowdowns+=("$window_slowdown") quiet_loads+=("$window_before" "$window_after")
}

quiet_judge() {
  read -r quiet others_limit slowdown_limit < <(python3 bench/quiet.py judge "${quiet_windows[@]}")
}

quiet_range() { printf '%s\n' "$@" | sort -g | sed -n '1p;$p' | paste -sd' ' | awk '{print ($1 == $2) ? $1 : $1 " to " $2}'; }

quiet_summary() {
  echo "machine: $(nproc) CPUs; other processes used $(quiet_range "${quiet_others[@]}") CPUs" \
    "(verdicts need <= $others_limit); host slowdown $(quiet_range "${quiet_slowdowns[@]}")x" \
    "against the calibration (verdicts need <= $slowdown_limit); 1-minute load average" \
    "$(quiet_range "${quiet_loads[@]}")"
}
