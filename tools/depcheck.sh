#!/bin/sh
# depcheck.sh - the library's sources go one way: `make deps-check` (run by
# `make test` and `make`).
#
#   sh tools/depcheck.sh [OBJDIR [SRCDIR]]     (defaults: build/obj src)
#
# Fails (exit 1) and prints what it found when
#   1. two or more source files depend on each other in a cycle: src/R/F.c
#      depends on src/S/G.c when R/F.o (in OBJDIR, the release objects) uses
#      a global symbol that S/G.o defines (nm);
#   2. private headers (SRCDIR/**/*.h) include each other in a cycle ("..."
#      includes);
#   3. a file under SRCDIR/helpers/ includes mm/mm.h or pt/pt.h, directly or
#      through another private header (helpers use the public API and the
#      function-only mm/file.h, mm/tlb.h, mm/notifier.h, core/core.h).
# On success it prints one line with the rooms (folders of SRCDIR) bottom up,
# in an order in which each room uses only rooms before it; rooms that use
# each other are shown together in braces, with a note naming the uses.
# Exit 2: an object is missing (build first) or nm is not installed.
obj=${1:-build/obj}
obj=${obj%/}
src=${2:-src}
src=${src%/}
src=${src#./}
inc=$src/../include # the public headers, for -Iinclude
me=depcheck

command -v nm >/dev/null 2>&1 || { echo "$me: nm not found (binutils)" >&2; exit 2; }
tmp=$(mktemp -d) || exit 2
trap 'rm -rf "$tmp"' EXIT

# ---- the graph of source files, from the objects' symbols ----------------
: >"$tmp/objs"
nsrc=0
for c in "$src"/*/*.c; do
	[ -e "$c" ] || continue
	f=${c#"$src"/}
	o=$obj/${f%.c}.o
	if [ ! -e "$o" ]; then
		echo "$me: no object $o for $c (make builds it)" >&2
		exit 2
	fi
	printf '%s\n' "$o" >>"$tmp/objs"
	nsrc=$((nsrc + 1))
done
if [ "$nsrc" -eq 0 ]; then
	echo "$me: no sources $src/*/*.c" >&2
	exit 2
fi
# nm -A -P: "object: name type [value size]"; U (and value-less weak) are uses.
# shellcheck disable=SC2046
nm -A -P -g $(cat "$tmp/objs") >"$tmp/nm" || exit 2
awk -v obj="$obj/" '{
	f = $1; sub(/:$/, "", f); f = substr(f, length(obj) + 1); sub(/\.o$/, ".c", f)
	print f, ($3 == "U" || (($3 == "w" || $3 == "v") && NF < 4)) ? "use" : "def", $2
}' "$tmp/nm" >"$tmp/syms"
# "E from to symbol" lines, sorted, so that every output below is stable.
awk '$2 == "def" { def[$3] = def[$3] " " $1 }
     $2 == "use" { use[++n] = $1 " " $3 }
     END {
	for (i = 1; i <= n; i++) {
		split(use[i], u, " ")
		k = split(def[u[2]], d, " ")
		for (j = 1; j <= k; j++)
			if (d[j] != u[1])
				print "E", u[1], d[j], u[2]
	}
     }' "$tmp/syms" | sort -u >"$tmp/file-edges"

# ---- include edges between files of SRCDIR --------------------------------
# "I from to line-number include-text" for every "..." or <...> include that
# resolves (as the compiler would, -Iinclude -Isrc) to a file under SRCDIR.
find "$src" -type f \( -name '*.c' -o -name '*.h' \) | sort >"$tmp/files"
# shellcheck disable=SC2046
awk -v src="$src" -v inc="$inc" '
function exists(p,    r, l) { r = (getline l < p) >= 0; close(p); return r }
# a/b/../c/./d -> a/c/d
function norm(p,    n, i, k, part, outp, res) {
	n = split(p, part, "/"); k = 0
	for (i = 1; i <= n; i++) {
		if (part[i] == "." || part[i] == "") continue
		if (part[i] == ".." && k > 0 && outp[k] != "..") { k--; continue }
		outp[++k] = part[i]
	}
	res = outp[1]; for (i = 2; i <= k; i++) res = res "/" outp[i]
	return (substr(p, 1, 1) == "/" ? "/" : "") res
}
FNR == 1 { dir = FILENAME; sub(/\/[^\/]*$/, "", dir) }
/^[ \t]*#[ \t]*include[ \t]*[<"]/ {
	line = $0; sub(/^[ \t]*#[ \t]*include[ \t]*/, "", line)
	q = substr(line, 1, 1); name = substr(line, 2)
	sub(q == "<" ? ">.*" : "\".*", "", name)
	if (name == "" || name ~ /\/$/) next
	t = ""
	if (q == "\"" && exists(dir "/" name)) t = dir "/" name
	else if (exists(inc "/" name)) next	# a public header
	else if (exists(src "/" name)) t = src "/" name
	if (t == "") next
	print "I", norm(FILENAME), norm(t), FNR, "#include " q name (q == "<" ? ">" : "\"")
}' $(cat "$tmp/files") >"$tmp/includes"

# ---- cycles ---------------------------------------------------------------
# Reads "E from to label" lines; prints one cycle per strongly connected
# component of more than one node (or a node with an edge to itself) as
#   CYCLE a -> b -> c -> a
#   VIA a -> b: label label ...
# and nothing when the graph is acyclic.
# shellcheck disable=SC2016 # an awk program
cycles='
function strong(v,    i, w) {
	idx[v] = low[v] = ++counter
	stack[++sp] = v; on[v] = 1
	for (i = 1; i <= nout[v]; i++) {
		w = out[v, i]
		if (!(w in idx)) {
			strong(w)
			if (low[w] < low[v]) low[v] = low[w]
		} else if (on[w] && idx[w] < low[v])
			low[v] = idx[w]
	}
	if (low[v] == idx[v]) {
		ncomp++
		do {
			w = stack[sp--]; on[w] = 0
			comp[w] = ncomp
		} while (w != v)
	}
}
# The shortest cycle through s inside its component (breadth first).
function cycle(s,    q, head, tail, v, i, w, seen, prev, path, n) {
	head = tail = 1; q[1] = s; seen[s] = 1
	while (head <= tail) {
		v = q[head++]
		for (i = 1; i <= nout[v]; i++) {
			w = out[v, i]
			if (comp[w] != comp[s]) continue
			if (w == s) {
				n = 0; path[++n] = s
				while (v != s) { path[++n] = v; v = prev[v] }
				path[++n] = s
				line = path[n]; vias = ""
				for (i = n - 1; i >= 1; i--) {
					line = line " -> " path[i]
					vias = vias "VIA " path[i + 1] " -> " path[i] ":" label[path[i + 1], path[i]] "\n"
				}
				return line
			}
			if (!(w in seen)) { seen[w] = 1; prev[w] = v; q[++tail] = w }
		}
	}
	return ""
}
$1 == "E" {
	if (!(($2, $3) in label)) {
		if (!($2 in known)) { known[$2] = 1; node[++nn] = $2 }
		if (!($3 in known)) { known[$3] = 1; node[++nn] = $3 }
		out[$2, ++nout[$2]] = $3
		label[$2, $3] = ""
	}
	for (i = 4; i <= NF; i++) label[$2, $3] = label[$2, $3] " " $i
}
END {
	for (i = 1; i <= nn; i++) if (!(node[i] in idx)) strong(node[i])
	for (i = 1; i <= nn; i++) size[comp[node[i]]]++
	for (i = 1; i <= nn; i++) {
		v = node[i]; c = comp[v]
		if (done[c]) continue
		if (size[c] > 1 || ((v, v) in label)) {
			done[c] = 1
			print "CYCLE " cycle(v)
			printf "%s", vias
			if (size[c] > split(vias, tmpa, "\n") - 1) {
				g = ""
				for (j = 1; j <= nn; j++) if (comp[node[j]] == c) g = g " " node[j]
				print "GROUP " size[c] g
			}
		}
	}
}'

status=0

# 1. Source files.
awk "$cycles" "$tmp/file-edges" >"$tmp/file-cycles"
if [ -s "$tmp/file-cycles" ]; then
	echo "$me: FAIL: source files depend on each other in a cycle (A -> B: A uses a symbol B defines):"
	awk -v src="$src/" '
		$1 == "CYCLE" { sub(/^CYCLE /, ""); gsub(/[^ ]+\.c/, src "&"); print "  " $0 }
		$1 == "VIA" { sub(/^VIA /, ""); print "      " $0 }
		$1 == "GROUP" { n = $2; $1 = $2 = ""; sub(/^ +/, ""); print "    all " n " files that depend on each other here:", $0 }' "$tmp/file-cycles"
	status=1
fi

# 2. Private headers ("..." includes between headers of SRCDIR).
awk '$1 == "I" && $2 ~ /\.h$/ && $3 ~ /\.h$/ && $6 ~ /^"/ { print "E", $2, $3, "line " $4 ":", $5, $6 }' \
	"$tmp/includes" | sort -u | awk "$cycles" >"$tmp/hdr-cycles"
if [ -s "$tmp/hdr-cycles" ]; then
	echo "$me: FAIL: private headers include each other in a cycle:"
	awk '$1 == "CYCLE" { sub(/^CYCLE /, ""); print "  " $0 }
	     $1 == "VIA" { sub(/^VIA /, ""); print "      " $0 }
	     $1 == "GROUP" { n = $2; $1 = $2 = ""; sub(/^ +/, ""); print "    all " n " headers in this cycle group:", $0 }' "$tmp/hdr-cycles"
	status=1
fi

# 3. Helpers see no structure: no mm/mm.h or pt/pt.h, directly or through a
#    private header.
awk -v src="$src/" '
$1 == "I" {
	n[$2]++; to[$2, n[$2]] = $3
	txt = $5; for (i = 6; i <= NF; i++) txt = txt " " $i
	how[$2, n[$2]] = $2 ":" $4 ": " txt
}
# The include chain from f to a forbidden header, or "".
function reach(f, depth,    i, t, r) {
	if (depth > 32) return ""
	for (i = 1; i <= n[f]; i++) {
		t = to[f, i]
		if (t == src "mm/mm.h" || t == src "pt/pt.h") return how[f, i]
		if (visiting[t]) continue
		visiting[t] = 1
		r = reach(t, depth + 1)
		visiting[t] = 0
		if (r != "") return how[f, i] "\n      which includes: " r
	}
	return ""
}
# Every include of a helper file that brings in a forbidden header.
END {
	while ((getline f < FILENAME_LIST) > 0) {
		if (index(f, src "helpers/") != 1) continue
		for (i = 1; i <= n[f]; i++) {
			t = to[f, i]
			if (t == src "mm/mm.h" || t == src "pt/pt.h") { print "  " how[f, i]; continue }
			visiting[t] = 1
			r = reach(t, 1)
			visiting[t] = 0
			if (r != "") print "  " how[f, i] "\n      which includes: " r
		}
	}
}' FILENAME_LIST="$tmp/files" "$tmp/includes" >"$tmp/helpers"
if [ -s "$tmp/helpers" ]; then
	echo "$me: FAIL: $src/helpers/ must not include mm/mm.h or pt/pt.h (they use the public API and"
	echo "  mm/file.h, mm/tlb.h, mm/notifier.h, core/core.h):"
	cat "$tmp/helpers"
	status=1
fi

[ "$status" -eq 0 ] || exit 1

# ---- the rooms, bottom up -------------------------------------------------
# Room R uses room S when a file of R depends on a file of S. Rooms that use
# each other (a component of the room graph) are one step, in braces; the
# steps are in topological order, ties broken by name.
for c in "$src"/*/*.c; do r=${c#"$src"/}; echo "${r%%/*}"; done | sort -u >"$tmp/rooms"
awk '{ split($2, a, "/"); split($3, b, "/"); if (a[1] != b[1]) print "E", a[1], b[1], $2 "->" $3 }' \
	"$tmp/file-edges" | sort -u >"$tmp/room-edges"
awk '
function strong(v,    i, w) {
	idx[v] = low[v] = ++counter
	stack[++sp] = v; on[v] = 1
	for (i = 1; i <= nout[v]; i++) {
		w = out[v, i]
		if (!(w in idx)) { strong(w); if (low[w] < low[v]) low[v] = low[w] }
		else if (on[w] && idx[w] < low[v]) low[v] = idx[w]
	}
	if (low[v] == idx[v]) {
		ncomp++
		do { w = stack[sp--]; on[w] = 0; comp[w] = ncomp } while (w != v)
	}
}
FILENAME == ARGV[1] { node[++nn] = $1; next }
$1 == "E" {
	if (!(($2, $3) in seen)) { seen[$2, $3] = 1; out[$2, ++nout[$2]] = $3 }
	uses[$2, $3] = uses[$2, $3] (uses[$2, $3] == "" ? "" : ", ") $4
}
END {
	for (i = 1; i <= nn; i++) if (!(node[i] in idx)) strong(node[i])
	# Component names (members by name; node[] is sorted) and their edges.
	for (i = 1; i <= nn; i++) {
		c = comp[node[i]]
		members[c] = members[c] (members[c] == "" ? "" : " ") node[i]
		count[c]++
		if (!(c in first)) { first[c] = node[i] }
	}
	for (i = 1; i <= nn; i++)
		for (j = 1; j <= nout[node[i]]; j++) {
			a = comp[node[i]]; b = comp[out[node[i], j]]
			if (a != b && !((a, b) in cdep)) { cdep[a, b] = 1; ndeps[a]++ }
		}
	# Kahn: repeatedly take the component (smallest first name) whose uses are all placed.
	line = ""
	for (placed = 0; placed < ncomp; placed++) {
		best = ""
		for (c = 1; c <= ncomp; c++) {
			if (c in put) continue
			ok = 1
			for (d = 1; d <= ncomp; d++) if (((c, d) in cdep) && !(d in put)) { ok = 0; break }
			if (ok && (best == "" || first[c] < first[best])) best = c
		}
		put[best] = 1
		step = count[best] > 1 ? "{" members[best] "}" : members[best]
		line = line (line == "" ? "" : " < ") step
		if (count[best] > 1) tangled[++nt] = best
	}
	print line
	for (t = 1; t <= nt; t++) {
		c = tangled[t]; note = ""
		for (i = 1; i <= nn; i++) for (j = 1; j <= nn; j++)
			if (i != j && comp[node[i]] == c && comp[node[j]] == c && ((node[i], node[j]) in uses))
				note = note "; " node[i] " uses " node[j] " (" uses[node[i], node[j]] ")"
		print "NOTE " substr(note, 3)
	}
}' "$tmp/rooms" "$tmp/room-edges" >"$tmp/order"
echo "$me: ok: $nsrc source files, no cycle between them or between private headers; helpers include neither mm/mm.h nor pt/pt.h"
echo "$me: rooms, bottom up (each uses only rooms before it): $(head -1 "$tmp/order")"
sed -n 's/^NOTE /  note: rooms in braces use each other: /p' "$tmp/order"
exit 0
