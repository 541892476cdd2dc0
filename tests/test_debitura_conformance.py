from tests.conformance import conformance_test

test_debitura_conforms_to_its_spec = conformance_test(
    "debitura", {"XApiKey": "schemathesis-debitura"}, max_examples=40, frozen_tenant="schemathesis-debitura"
)
