// src/worker/fields.js on Node (its Headers follow the same Fetch standard as workerd's): the string
// the Rust adapter splits into fields (src/worker/io.rs `pairs`). Run by ./test.
import { test } from "node:test";
import assert from "node:assert/strict";
import { allFields, storedResponse } from "../src/worker/fields.js";

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

test("storedResponse: the stored fields less the dropped ones, plus the added lines, in one response", async () => {
  const base = new Headers([["content-type", "text/html"], ["x-edgecache-meta", "{}"], ["cache-control", "public, s-maxage=9"], ["etag", "\"a\""]]);
  const r = storedResponse(base, 203, "body", "x-edgecache-meta\ncache-control\nnot-there", "cache-control,public, max-age=60\ncache-status,edgecache; hit\nx-latin,caf\u00e9");
  assert.equal(r.status, 203);
  assert.equal(await r.text(), "body");
  assert.equal(allFields(r.headers), "cache-control,public, max-age=60\ncache-status,edgecache; hit\ncontent-type,text/html\netag,\"a\"\nx-latin,caf\u00e9");
  assert.equal(allFields(base), "cache-control,public, s-maxage=9\ncontent-type,text/html\netag,\"a\"\nx-edgecache-meta,{}", "the stored fields are copied, never changed");
  assert.equal(allFields(storedResponse(base, 200, null, "", "").headers), allFields(base), "nothing to drop or add");
});

test("storedResponse: throws what the runtime refuses, for the adapter to catch", () => {
  assert.throws(() => storedResponse(new Headers(), 204, "no body on a 204", "", ""));
  assert.throws(() => storedResponse(new Headers(), 99, null, "", ""));
  assert.throws(() => storedResponse(new Headers(), 200, null, "", "bad name,x"));
});
