// Run one MicroPython script that starts asyncio tasks (the WebAssembly port
// has no asyncio.run: its tasks run on the JavaScript event loop, and
// tools/mp/run.mjs exits as soon as the script returns).  lib/ (a host
// directory of .py or .mpy files) is copied to /lib; Node stays alive until
// the script prints a line starting "END" (exit 0) or "FAIL" (exit 1), or
// 30 s pass (exit 1).
//   node run_async.mjs <micropython.mjs> <lib dir> <script.py> <heap bytes>
import fs from "node:fs";
import path from "node:path";
const [pkg, lib, script, heap] = process.argv.slice(2);
const mod = await import(pkg);
let out = [];
const mp = await mod.loadMicroPython({heapsize: parseInt(heap, 10), linebuffer: true,
  stdout: (l) => { out.push(l); process.stdout.write(l + "\n"); },
  stderr: (l) => process.stderr.write(l + "\n")});
function copyTree(host, dest) {
  mp.FS.mkdirTree(dest);
  for (const ent of fs.readdirSync(host, { withFileTypes: true })) {
    const h = path.join(host, ent.name), d = dest + "/" + ent.name;
    if (ent.isDirectory()) { if (ent.name !== "__pycache__") copyTree(h, d); }
    else if (/\.(py|mpy)$/.test(ent.name)) mp.FS.writeFile(d, fs.readFileSync(h));
  }
}
copyTree(lib, "/lib");
mp.runPython(fs.readFileSync(script, "utf8"));
for (let i = 0; i < 300 && !out.some((l) => l.startsWith("END") || l.startsWith("FAIL")); i++)
  await new Promise((r) => setTimeout(r, 100));
process.exit(out.some((l) => l.startsWith("END")) ? 0 : 1);
