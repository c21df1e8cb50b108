# SPDX-License-Identifier: MIT
# Print the C example of README's "Embedding it" section (its indented
# lines, up to "Build it against"), so make check and CI compile and run
# exactly what the README shows.
BEGIN { print "/* SPDX-License-Identifier: MIT */"; print "/* README's example, extracted by examples/readme.awk. */" }
/^## Embedding it/ { on = 1; next }
on && /^Build it against/ { exit }
on && /^    / { print substr($0, 5); next }
on && /^$/ { print }
