from tests.conformance import conformance_test

HEADERS = {
    "Authorization": "Bearer schemathesis-wethod",
    "Wethod-Company": "acme",
    "Wethod-Version": "2024-06-15",
}

test_wethod_conforms_to_its_spec = conformance_test("wethod", HEADERS)
