// Header fields for the Rust adapter (src/worker/io.rs `all_fields`), bundled with the wasm glue.

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
