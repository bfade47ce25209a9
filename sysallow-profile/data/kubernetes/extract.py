#!/usr/bin/env python3
"""Cut the Kubernetes API schemas sysallow's deploy/ manifests need out of kubernetes-validate.

Usage: extract.py KUBERNETES_JSON_SCHEMA_DIR VERSION > k8s-VERSION-strict.json
  KUBERNETES_JSON_SCHEMA_DIR: kubernetes_validate/kubernetes-json-schema from the
  kubernetes-validate wheel (PyPI; see README.md beside this file for the release and sha256);
  VERSION: e.g. v1.37.0.

Reads VERSION-local-strict/ (strict: additionalProperties false, as `kubectl apply` with
server-side field validation Strict refuses unknown fields), takes the top-level schemas of the
kinds below and every definition they reach through $ref, drops the "description" texts (the
schemas' meaning is unchanged; they were 70% of the bytes), points each $ref into this file's
own $defs, and prints one JSON document. Deterministic: the same input gives the same bytes.
"""
import json
import sys

KINDS = ["namespace-v1", "serviceaccount-v1", "daemonset-apps-v1", "pod-v1", "securitycontext-v1"]


def main(root, version):
    folder = f"{root}/{version}-local-strict"
    with open(f"{folder}/_definitions.json") as f:
        definitions = json.load(f)["$defs"]
    out = {}

    def rewrite(node):
        if isinstance(node, dict):
            result = {}
            for key, value in node.items():
                if key == "description" and isinstance(value, str):
                    continue
                if key == "$ref":
                    name = value.split("/")[-1]
                    if name not in out:
                        out[name] = None
                        out[name] = rewrite(definitions[name])
                    result[key] = f"#/$defs/{name}"
                elif key in ("$schema", "$id"):
                    continue
                else:
                    result[key] = rewrite(value)
            return result
        if isinstance(node, list):
            return [rewrite(x) for x in node]
        return node

    for kind in KINDS:
        with open(f"{folder}/{kind}.json") as f:
            out[kind] = rewrite(json.load(f))
    doc = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$comment": f"kubernetes-validate {version}-local-strict, cut by extract.py",
        "$defs": {k: out[k] for k in sorted(out)},
    }
    json.dump(doc, sys.stdout, indent=1, sort_keys=True)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
