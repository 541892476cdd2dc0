from tests.conformance import conformance_test

test_admin_api_conforms_to_its_spec = conformance_test("sandbox", {})
test_debitura_admin_helpers_conform_to_their_spec = conformance_test("debitura.admin", {})
