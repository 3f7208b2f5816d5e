# Reads `bltpipe run --progress` lines on stdin and prints the rate between
# consecutive lines: tokens = the line's (cumulative) tokens/s × elapsed,
# so rate = Δtokens / Δelapsed. The steady state is the run of similar
# rates after the model has loaded and compiled.
/tokens\/s ·/ {
  match($0, /\[([0-9]+m)?[0-9]+s\]/)
  t = substr($0, RSTART + 1, RLENGTH - 2)
  s = 0
  if (t ~ /m/) { split(t, a, "m"); s = a[1] * 60; t = a[2] }
  s += t + 0
  match($0, /, [0-9]+ tokens\/s/)
  r = substr($0, RSTART + 2, RLENGTH - 11) + 0
  if (r > 0 && pr > 0 && s > ps) printf "steady %4ds-%4ds: %.0f tokens/s\n", ps, s, (r * s - pr * ps) / (s - ps)
  ps = s; pr = r
}
