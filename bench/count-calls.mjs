// Instruments a copy of a built worker (bench/out/variants/NAME/index.js + index_bg.wasm) to count
// the wasm's calls into JS (every wasm-bindgen import): each response carries
// `x-wasm-calls: TOTAL name=n ...`, the calls made between the request's arrival and its response
// (exact at one request at a time). A measuring tool for issue 16:
//   node bench/count-calls.mjs bench/out/variants/a   → writes bench/out/variants/a-count/
// then `node bench/ab.mjs --rounds 1 a=ec:bench/out/variants/a-count` prints the counts.
import { cpSync, readFileSync, writeFileSync, rmSync } from "node:fs";
const src = process.argv[2].replace(/\/+$/, "");
const dst = `${src}-count`;
rmSync(dst, { recursive: true, force: true });
cpSync(src, dst, { recursive: true });
let js = readFileSync(`${dst}/index.js`, "utf8");
// Every function of every import module handed to a wasm instance (wasm-bindgen's glue and the
// snippets, e.g. src/worker/task.js) is wrapped with a counter; module namespaces are read-only, so
// each module's functions are copied into a plain object.
const pre = `const __calls=Object.create(null);let __total=0;const __RealInstance=WebAssembly.Instance;
WebAssembly.Instance=function(m,o){for(const mod of Object.keys(o||{})){const g=o[mod];if(!g)continue;const w={};for(const k of Object.keys(g)){const f=g[k];if(typeof f==="function"){const n=k.replace(/^__wbg_|_[0-9a-f]{16}$/g,"");w[k]=function(...a){__total++;__calls[n]=(__calls[n]||0)+1;return f.apply(this,a)}}else w[k]=g[k]}o[mod]=w}return new __RealInstance(m,o)};
function __count(t0,c0,p){return Promise.resolve(p).then(r=>{try{const d=Object.entries(__calls).map(([k,v])=>[k,v-(c0[k]||0)]).filter(x=>x[1]>0).sort((x,y)=>y[1]-x[1]);r.headers.set("x-wasm-calls",String(__total-t0)+" "+d.map(([k,v])=>k+"="+v).join(" "))}catch(e){}return r})}
`;
// The default export (the entry's handler object, scripts/worker-entry.mjs): its fetch reports the calls.
const m = /export\{([^}]*?)(?<![\w$])([\w$]+) as default(?![\w$])([^}]*)\}/.exec(js);
if (!m) throw new Error("default export not found");
js = js.slice(0, m.index) +
  `const __Counted={...${m[2]},fetch(r,e,c){const t0=__total,c0={...__calls};return __count(t0,c0,${m[2]}.fetch(r,e,c))}};export{${m[1]}__Counted as default${m[3]}}` +
  js.slice(m.index + m[0].length);
// After the imports (esbuild puts them first in their statement).
const at = js.indexOf('import ');
const end = js.indexOf(";", js.indexOf('.wasm"', at)) + 1;
js = js.slice(0, end) + pre + js.slice(end);
writeFileSync(`${dst}/index.js`, js);
console.log(dst);
