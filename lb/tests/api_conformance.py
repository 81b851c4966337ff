"""Checks recorded management API answers against the full reference Swagger 2.0
specification of the Data Plane API v2.1 (not the cut-down copy `lb` serves).

Usage: api_conformance.py REFERENCE.json EXCHANGES.json

The reference is validated with openapi-spec-validator (Swagger 2.0 rules), and so are the
documents `lb` served, if recorded: `GET /v2/specification` (Swagger 2.0) and
`GET /v2/specification_openapiv3` (OpenAPI 3.0). Each answer's body is validated with
jsonschema against the response schema the reference gives for its path, method and status
(or `default`), with the reference's definitions in scope; every answer but a 401 must carry the Configuration-Version header (a 401 must not:
an unauthenticated client learns nothing), and errors must be the `{"code","message"}` model. Exits non-zero listing every mismatch.
"""
import json
import re
import sys

import jsonschema
from openapi_spec_validator import OpenAPIV2SpecValidator, OpenAPIV30SpecValidator

# Served documents, by path: the validator of their OpenAPI version.
DOCUMENTS = {
    "/v2/specification": OpenAPIV2SpecValidator,
    "/v2/specification_openapiv3": OpenAPIV30SpecValidator,
}


def template_matcher(spec):
    """(regex, template) for every path of the document, most specific first."""
    out = []
    for template in spec["paths"]:
        pattern = re.sub(r"\{[^}]+\}", "[^/]+", template)
        out.append((re.compile("^" + pattern + "$"), template))
    out.sort(key=lambda p: p[1].count("{"))
    return out


def deref(spec, node):
    while isinstance(node, dict) and "$ref" in node:
        target = spec
        for part in node["$ref"].lstrip("#/").split("/"):
            target = target[part]
        node = target
    return node


def main():
    spec = json.load(open(sys.argv[1]))
    exchanges = json.load(open(sys.argv[2]))
    OpenAPIV2SpecValidator(spec).validate()
    matchers = template_matcher(spec)
    problems = []
    checked = 0
    documents = 0
    for x in exchanges:
        where = f"{x['method'].upper()} {x['path']} -> {x['status']}"
        if x["status"] == 200 and x["path"] in DOCUMENTS:
            try:
                DOCUMENTS[x["path"]](json.loads(x["body"])).validate()
                documents += 1
            except Exception as e:  # the validators raise their own error types
                problems.append(f"{where}: the served document is invalid: {e}")
        headers = {k.lower(): v for k, v in x["headers"]}
        if x["status"] == 401:
            if "configuration-version" in headers:
                problems.append(f"{where}: Configuration-Version on a 401")
        elif "configuration-version" not in headers:
            problems.append(f"{where}: no Configuration-Version header")
        template = next((t for r, t in matchers if r.match(x["path"])), None)
        operation = spec["paths"].get(template, {}).get(x["method"]) if template else None
        if operation is None:
            # Unknown paths and methods: the error model is all that is promised.
            responses = {"default": {"$ref": "#/responses/DefaultError"}}
        else:
            responses = operation["responses"]
        response = responses.get(str(x["status"]), responses.get("default"))
        if response is None:
            problems.append(f"{where}: status not in the specification")
            continue
        response = deref(spec, response)
        schema = response.get("schema")
        if schema is None:
            if x["body"].strip():
                problems.append(f"{where}: body where the specification has none")
            continue
        try:
            body = json.loads(x["body"])
        except ValueError as e:
            problems.append(f"{where}: body is not JSON: {e}")
            continue
        rooted = dict(schema)
        rooted["definitions"] = spec["definitions"]
        validator = jsonschema.Draft4Validator(rooted)
        for error in validator.iter_errors(body):
            problems.append(f"{where}: {'/'.join(map(str, error.path))}: {error.message}")
        checked += 1
    if problems:
        print("\n".join(problems))
        sys.exit(1)
    print(
        f"openapi conformance: {checked} response bodies and {len(exchanges)} answers conform"
        f" to the reference; {documents} served documents are valid"
    )


if __name__ == "__main__":
    main()
