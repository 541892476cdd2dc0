import base64

from tests.conformance import conformance_test

KEY = base64.b64encode(b"schemathesis-invoiced:").decode()

test_invoiced_conforms_to_its_spec = conformance_test("invoiced", {"Authorization": f"Basic {KEY}"}, max_examples=40)
