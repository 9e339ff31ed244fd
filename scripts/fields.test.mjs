// src/worker/fields.js on Node (its Headers follow the same Fetch standard as workerd's): the string
// the Rust adapter splits into fields (src/worker/io.rs `pairs`). Run by ./test.
import { test } from "node:test";
import assert from "node:assert/strict";
import { allFields } from "../src/worker/fields.js";

test("allFields: one name,value line per field, names lower-case, in the runtime's order", () => {
  const h = new Headers([["X-B", "2"], ["A", "1, with comma"], ["x-b", "3"], ["Empty", ""]]);
  assert.equal(allFields(h), "a,1, with comma\nempty,\nx-b,2, 3");
  assert.equal(allFields(new Headers()), "", "no fields: an empty string");
});

test("allFields: each Set-Cookie on its own line, never combined", () => {
  const h = new Headers();
  h.append("Set-Cookie", "a=1; Path=/");
  h.append("Set-Cookie", "b=2");
  assert.equal(allFields(h), "set-cookie,a=1; Path=/\nset-cookie,b=2");
});
