from tests.conformance import conformance_test

test_payt_conforms_to_its_spec = conformance_test("payt", {"Authorization": "Bearer schemathesis-payt"})
