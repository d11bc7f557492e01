#!/bin/sh
# Creates the engine's Temporal namespace when it is missing and registers the search attributes
# the namespace does not have yet. Safe to run on every rollout. Runs in the temporalio/admin-tools
# image (it needs the `temporal` CLI).
#
#   TEMPORAL_ADDRESS     frontend host:port
#   TEMPORAL_NAMESPACE   the namespace (the same value the worker uses)
#   SEARCH_ATTRIBUTES    "Name=Type Name=Type ...": exactly workflows/search_attributes.py
#                        (`cli_definitions()`); tests/test_deploy_files.py keeps them equal
#   NAMESPACE_RETENTION  how long closed incidents' histories are kept (default 30d)
#
# The Kubernetes copy of this script is deploy/k8s/temporal-setup-configmap.yaml; the tests keep
# both identical.
set -eu

: "${TEMPORAL_ADDRESS:?TEMPORAL_ADDRESS must be set}"
: "${TEMPORAL_NAMESPACE:?TEMPORAL_NAMESPACE must be set}"
: "${SEARCH_ATTRIBUTES:?SEARCH_ATTRIBUTES must be set}"
retention="${NAMESPACE_RETENTION:-30d}"

retry() {
    # retry WHAT COMMAND...: up to 60 attempts, 2 s apart.
    what="$1"
    shift
    attempt=1
    until "$@"; do
        if [ "$attempt" -ge 60 ]; then
            echo "gave up waiting for $what" >&2
            return 1
        fi
        attempt=$((attempt + 1))
        sleep 2
    done
}

retry "Temporal at $TEMPORAL_ADDRESS to serve" temporal operator cluster health

if temporal operator namespace describe --namespace "$TEMPORAL_NAMESPACE" >/dev/null 2>&1; then
    echo "namespace $TEMPORAL_NAMESPACE exists"
else
    temporal operator namespace create --namespace "$TEMPORAL_NAMESPACE" --retention "$retention"
    echo "namespace $TEMPORAL_NAMESPACE created (retention $retention)"
fi

# A new namespace takes a few seconds to reach every frontend's cache.
retry "namespace $TEMPORAL_NAMESPACE to be visible" \
    temporal operator search-attribute list --namespace "$TEMPORAL_NAMESPACE" >/dev/null

for definition in $SEARCH_ATTRIBUTES; do
    name="${definition%%=*}"
    type="${definition#*=}"
    if temporal operator search-attribute list --namespace "$TEMPORAL_NAMESPACE" \
        | grep -qw -- "$name"; then
        echo "search attribute $name exists"
    else
        temporal operator search-attribute create --namespace "$TEMPORAL_NAMESPACE" \
            --name "$name" --type "$type"
        echo "search attribute $name registered as $type"
    fi
done
