// Header fields for the Rust adapter (src/worker/io.rs `all_field_bytes`), bundled with the wasm glue.

/**
 * Every field of the runtime Headers `h` as one string, a `name,value` line each: one call
 * into JavaScript and one string across the boundary, built in a single loop (no intermediate
 * array of pairs, no `toString` of each pair as `Array.from(h).join("\n")` costs).
 */
export function allFields(h) {
  let s = "";
  for (const [k, v] of h) s += s === "" ? `${k},${v}` : `\n${k},${v}`;
  return s;
}

/**
 * A response from a stored entry's fields in one call (src/worker/serve.rs `fields_for`): a copy
 * of `base` without the fields named in `drop` (one name per line) and with the `add` lines
 * (`name,value`, as `allFields` writes them) appended, then the response itself. Throws what the
 * runtime throws (a status it refuses, a body on 204/205/304); the adapter's binding catches it.
 */
export function storedResponse(base, status, body, drop, add) {
  const h = new Headers(base);
  if (drop !== "") for (const n of drop.split("\n")) h.delete(n);
  if (add !== "") {
    for (const l of add.split("\n")) {
      const i = l.indexOf(",");
      h.append(l.slice(0, i), l.slice(i + 1));
    }
  }
  return new Response(body, { status, headers: h });
}
