#!/bin/sh
# Seeds the fuzz targets' corpora with real configuration: the YAML of
# Istio's samples, test configs, analyzer and webhook test inputs and
# authorization-policy golden inputs from the shared corpus, the demo's own
# mesh, and the meshes of mesh-xds's tests. Random bytes rarely parse as a
# mesh; mutating real ones reaches the compilers.
# Usage: fuzz/seed.sh [TARGET ...]   (default: compile parse_validate analyze)
set -eu
cd "$(dirname "$0")"
corpus=../../shared/corpus/istio
[ -d "$corpus" ] || { echo "no corpus at $corpus" >&2; exit 1; }
targets=${*:-compile parse_validate analyze}
for t in $targets; do
    mkdir -p "corpus/$t"
    find "$corpus/samples" "$corpus/tests/testdata/config" \
        "$corpus/pkg/config/analysis/analyzers/testdata" \
        "$corpus/pkg/config/validation/testdata/crds" \
        "$corpus/pilot/pkg/security/authz/builder/testdata" \
        ../examples/sample ../mesh-xds/tests/data \
        -name '*.yaml' -size -64k | while read -r f; do
        # Named by content, as libFuzzer names its own finds.
        cp "$f" "corpus/$t/$(sha1sum "$f" | cut -c1-40)"
    done
    echo "$t: $(ls "corpus/$t" | wc -l) inputs"
done
