// Runs inside an agent container with no network (network_egress=proxy): listens on loopback
// for the model API endpoints and forwards each connection to a unix socket that Orchard's worker
// relays to the real endpoint, then runs the agent and exits with its exit code.
//   node relay.js HOST:PORT=SOCKET [...] -- AGENT ARGV...
"use strict";
const net = require("net");
const { spawn } = require("child_process");

const split = process.argv.indexOf("--");
const specs = process.argv.slice(2, split);
const agent = process.argv.slice(split + 1);

function listen(spec) {
  const [address, socket] = spec.split("=");
  const port = Number(address.slice(address.lastIndexOf(":") + 1));
  const host = address.slice(0, address.lastIndexOf(":"));
  const server = net.createServer((client) => {
    const upstream = net.connect(socket);
    client.pipe(upstream).pipe(client);
    client.on("error", () => upstream.destroy());
    upstream.on("error", () => client.destroy());
  });
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, resolve);
  });
}

Promise.all(specs.map(listen)).then(
  () => {
    const child = spawn(agent[0], agent.slice(1), { stdio: "inherit" });
    for (const sig of ["SIGTERM", "SIGINT", "SIGHUP"]) process.on(sig, () => child.kill(sig));
    child.on("error", (err) => {
      console.error(`orchard relay: cannot start ${agent[0]}: ${err.message}`);
      process.exit(127);
    });
    child.on("exit", (code, signal) => process.exit(code === null ? 128 + (require("os").constants.signals[signal] || 9) : code));
  },
  (err) => {
    console.error(`orchard relay: cannot listen: ${err.message}`);
    process.exit(125);
  },
);
