// Requests signed by the JS SDK's own SigV4 signer (@smithy/signature-v4), at a given instant, for
// tests/serve/test_js_sdk.py to verify with kmscli's verifier (kmscli/serve/sigv4.py) in-process.
//
// Reads {modules, date (ISO 8601), accessKeyId, secretAccessKey, cases: [{name, region, path,
// query, headers, body}]} on stdin; prints [{name, headers}]: every header the signer set or kept,
// names lower-cased, as a server receives them.
import { createRequire } from "node:module";
import fs from "node:fs";
import path from "node:path";

const config = JSON.parse(fs.readFileSync(0, "utf8"));
const require = createRequire(path.join(config.modules, "package.json"));
const { SignatureV4 } = require("@smithy/signature-v4");
const { Hash } = require("@smithy/hash-node");
const { HttpRequest } = require("@smithy/protocol-http");

const out = [];
for (const c of config.cases) {
  const signer = new SignatureV4({
    service: "kms",
    region: c.region,
    credentials: { accessKeyId: config.accessKeyId, secretAccessKey: config.secretAccessKey },
    sha256: Hash.bind(null, "sha256"),
  });
  const body = new TextEncoder().encode(c.body);
  const request = new HttpRequest({
    method: "POST",
    protocol: "http:",
    hostname: "127.0.0.1",
    port: 8080,
    path: c.path,
    query: c.query,
    headers: { host: "127.0.0.1:8080", "content-length": String(body.length), ...c.headers },
    body,
  });
  const signed = await signer.sign(request, { signingDate: new Date(config.date) });
  out.push({
    name: c.name,
    headers: Object.entries(signed.headers).map(([k, v]) => [k.toLowerCase(), String(v)]),
  });
}
process.stdout.write(JSON.stringify(out) + "\n");
