from tests.conformance import conformance_test

test_admin_api_conforms_to_its_spec = conformance_test("sandbox", {})
