// The wasm custom-section rewrite of scripts/build-worker.mjs on hand-made modules: the name section
// goes, the producers section gains the SDK entry once, every other byte stays.
// Run by ./test: node --test scripts/build-worker.test.mjs
import { test } from "node:test";
import assert from "node:assert/strict";
import { rewriteCustomSections } from "./build-worker.mjs";

const HEADER = Buffer.from([0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00]);
const str = (s) => Buffer.concat([Buffer.from([Buffer.byteLength(s)]), Buffer.from(s)]); // names < 128 bytes
const section = (id, body) => Buffer.concat([Buffer.from([id, body.length]), body]); // bodies < 128 bytes
const custom = (name, content) => section(0, Buffer.concat([str(name), content]));
/** A producers section body: fields [[field, [[name, version], ...]], ...]. */
const producers = (fields) =>
  Buffer.concat([Buffer.from([fields.length]), ...fields.flatMap(([f, vs]) => [str(f), Buffer.from([vs.length]), ...vs.flatMap(([n, v]) => [str(n), str(v)])])]);

const TYPE = section(1, Buffer.from([0x01, 0x60, 0x00, 0x00])); // one type: () -> ()
const NAMES = custom("name", Buffer.from([0x00, 0x02, 0x01, 0x00])); // any bytes: it is dropped whole
const SDK = ["sdk", "workers-rs", "0.8.7"];

test("the name section is removed and nothing else changes", () => {
  const other = custom("target_features", Buffer.from([0x01, 0x2b, 0x01, 0x61]));
  const wasm = Buffer.concat([HEADER, TYPE, NAMES, other]);
  const { bytes, dropped } = rewriteCustomSections(wasm, { dropNames: true });
  assert.deepEqual(bytes, Buffer.concat([HEADER, TYPE, other]));
  assert.equal(dropped, NAMES.length);
});

test("the SDK joins an existing producers section in place, after its fields", () => {
  const before = producers([["language", [["Rust", ""]]], ["processed-by", [["rustc", "1.95.0"], ["walrus", "0.27.3"]]]]);
  const tail = custom("target_features", Buffer.from([0x00]));
  const wasm = Buffer.concat([HEADER, TYPE, custom("producers", before), tail]);
  const { bytes } = rewriteCustomSections(wasm, { dropNames: true, producer: SDK });
  const after = producers([["language", [["Rust", ""]]], ["processed-by", [["rustc", "1.95.0"], ["walrus", "0.27.3"]]], ["sdk", [["workers-rs", "0.8.7"]]]]);
  assert.deepEqual(bytes, Buffer.concat([HEADER, TYPE, custom("producers", after), tail]));
  // Once only: a second pass changes nothing.
  assert.deepEqual(rewriteCustomSections(bytes, { dropNames: true, producer: SDK }).bytes, bytes);
});

test("an existing field gains the value; without a producers section one is appended", () => {
  const wasm = Buffer.concat([HEADER, custom("producers", producers([["sdk", [["other", "1"]]]])), TYPE]);
  assert.deepEqual(
    rewriteCustomSections(wasm, { producer: SDK }).bytes,
    Buffer.concat([HEADER, custom("producers", producers([["sdk", [["other", "1"], ["workers-rs", "0.8.7"]]]])), TYPE]),
  );
  assert.deepEqual(
    rewriteCustomSections(Buffer.concat([HEADER, TYPE]), { producer: SDK }).bytes,
    Buffer.concat([HEADER, TYPE, custom("producers", producers([["sdk", [["workers-rs", "0.8.7"]]]]))]),
  );
});

test("malformed input is refused, not rewritten", () => {
  assert.throws(() => rewriteCustomSections(Buffer.from("not wasm at all"), { dropNames: true }), /not a wasm module/);
  const cut = Buffer.concat([HEADER, TYPE]).subarray(0, HEADER.length + 3);
  assert.throws(() => rewriteCustomSections(cut, { dropNames: true }), /truncated/);
  const badProducers = Buffer.concat([HEADER, custom("producers", Buffer.from([0x01, 0x05, 0x61]))]);
  assert.throws(() => rewriteCustomSections(badProducers, { producer: SDK }), /producers/);
});
