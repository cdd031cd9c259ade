import { WeirError } from "../core/errors.js";

/** A misuse of weir/testing's test client; `code` says which (docs/errors.md, "Testing"). */
export class TestClientError extends WeirError {}
