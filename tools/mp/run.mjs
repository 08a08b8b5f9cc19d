// Run a Python script under the real MicroPython WebAssembly port (npm package
// @micropython/micropython-webassembly-pyscript, pinned in package-lock.json).
//
//   node tools/mp/run.mjs [--heap BYTES] [--mount HOSTDIR=/dir]... SCRIPT.py [ARG...]
//
// A script may define mp_step(): see below.
// Host directories are copied (.py and .json files) into the interpreter's
// in-memory filesystem; SCRIPT's arguments are readable in Python as the JSON list
// in /argv.json.  After the script, MicroPython's own heap report is printed as
//   MPHEAP total=<bytes> used=<bytes> heapsize=<bytes>
// where total above the initial pool means the GC heap had to grow.
// Exit status: 0 when the script finished, 1 when it raised, 2 on bad usage.
import fs from "node:fs";
import path from "node:path";

const PKG = "@micropython/micropython-webassembly-pyscript";

function usage(msg) {
  process.stderr.write(`mprun: ${msg}\nusage: node tools/mp/run.mjs [--heap BYTES] [--mount HOSTDIR=/dir]... SCRIPT.py [ARG...]\n`);
  process.exit(2);
}

let heap = 64 * 1024;
const mounts = [];
const argv = process.argv.slice(2);
while (argv.length && argv[0].startsWith("--")) {
  const opt = argv.shift();
  const val = argv.shift();
  if (val === undefined) usage(`${opt} needs a value`);
  if (opt === "--heap") {
    const m = /^(\d+)([kKmM]?)$/.exec(val);
    if (!m) usage(`bad heap size ${val}`);
    heap = parseInt(m[1], 10) * ({ "": 1, k: 1024, m: 1048576 }[m[2].toLowerCase()]);
  } else if (opt === "--mount") {
    const i = val.indexOf("=");
    if (i < 1) usage(`--mount wants HOSTDIR=/dir, got ${val}`);
    mounts.push([val.slice(0, i), val.slice(i + 1)]);
  } else usage(`unknown option ${opt}`);
}
const script = argv.shift();
if (!script) usage("no script given");

let mp;
let captured = null;
try {
  const mod = await import(PKG);
  mp = await mod.loadMicroPython({
    heapsize: heap,
    linebuffer: true,
    stdout: (line) => (captured ? captured.push(line) : process.stdout.write(line + "\n")),
    stderr: (line) => process.stderr.write(line + "\n"),
  });
} catch (e) {
  process.stderr.write(`mprun: cannot load MicroPython from ${PKG} (run 'npm ci'): ${e.message}\n`);
  process.exit(3);
}

function copyTree(host, dest) {
  mp.FS.mkdirTree(dest);
  for (const ent of fs.readdirSync(host, { withFileTypes: true })) {
    const h = path.join(host, ent.name);
    const d = dest + "/" + ent.name;
    if (ent.isDirectory()) {
      if (ent.name !== "__pycache__") copyTree(h, d);
    } else if (/\.(py|mpy|json|hex|bin)$/.test(ent.name)) {
      mp.FS.writeFile(d, fs.readFileSync(h));
    }
  }
}
for (const [host, dest] of mounts) {
  if (!fs.existsSync(host)) usage(`no such directory ${host}`);
  copyTree(host, dest);
}
mp.FS.writeFile("/argv.json", JSON.stringify(argv));

// This port's GC reclaims nothing while Python code is running (it grows the
// heap instead); it does collect between top-level calls.  A script that defines
// mp_step() is therefore driven one step per call, with a collection before each
// step, until mp_step() returns a false value.
let status = 0;
try {
  mp.runPython(fs.readFileSync(script, "utf8"));
  const step = mp.globals.get("mp_step");
  if (step) {
    for (;;) {
      mp.runPython("import gc\ngc.collect()");
      if (!step()) break;
    }
  }
} catch (e) {
  process.stderr.write(`mprun: script raised: ${e.message}\n`);
  status = 1;
}
mp.runPython("import gc\ngc.collect()");
// MicroPython's own account of the heap: the pool total grows past its initial
// size only when an allocation could not be met inside it.
captured = [];
let report = `MPHEAP heapsize=${heap} unavailable`;
try {
  mp.runPython("import micropython, gc\nmicropython.mem_info()\nprint('ALLOC', gc.mem_alloc())");
  const gcl = captured.find((l) => l.startsWith("GC: total:"));
  const al = captured.find((l) => l.startsWith("ALLOC "));
  const m = gcl && /total: (\d+), used: (\d+)/.exec(gcl);
  if (m) report = `MPHEAP heapsize=${heap} total=${m[1]} used=${m[2]} alloc=${al ? al.slice(6) : "?"}`;
} catch (e) {
  report = `MPHEAP heapsize=${heap} unavailable: ${e.message}`;
}
captured = null;
process.stdout.write(report + "\n");
process.exit(status);
