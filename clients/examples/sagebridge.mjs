// Sage Bridge signatures with Node's own crypto (Node 18+), no packages.
//   node sagebridge.mjs sign <event.json>           prints the Sage-Bridge-Signature header value
//   node sagebridge.mjs verify <body file> <headers.json>
//       verifies a delivery (Sage-Bridge-Signature, or Standard Webhooks' webhook-* headers);
//       prints the event type and exits 0, or prints why and exits 1
// The secret is read from SAGEBRIDGE_WEBHOOK_SECRET (the tenant's secret as issued; a rotation's old
// one may follow after a comma).
import { createHmac, timingSafeEqual } from "node:crypto";
import { readFileSync } from "node:fs";

const TOLERANCE_SECONDS = 300;
const secrets = (process.env.SAGEBRIDGE_WEBHOOK_SECRET ?? "").split(",").filter(Boolean);

export function sign(body, secret, timestamp = Math.floor(Date.now() / 1000)) {
  const digest = createHmac("sha256", secret).update(`${timestamp}.`).update(body).digest("hex");
  return `t=${timestamp},v1=${digest}`;
}

function same(a, b) {
  return a.length === b.length && timingSafeEqual(a, b);
}

function fresh(timestamp) {
  if (!/^\d+$/.test(timestamp ?? "")) throw new Error("malformed timestamp");
  if (Math.abs(Date.now() / 1000 - Number(timestamp)) > TOLERANCE_SECONDS) throw new Error("timestamp too old or new");
}

export function verifyDelivery(body, headers, keys) {
  const h = Object.fromEntries(Object.entries(headers).map(([k, v]) => [k.toLowerCase(), String(v)]));
  if (h["webhook-signature"]) {
    // Standard Webhooks: HMAC of "<id>.<timestamp>.<body>", base64, key = the secret's UTF-8 bytes.
    fresh(h["webhook-timestamp"]);
    const signed = Buffer.concat([Buffer.from(`${h["webhook-id"]}.${h["webhook-timestamp"]}.`), body]);
    const given = h["webhook-signature"].split(" ").filter((s) => s.startsWith("v1,"))
      .map((s) => Buffer.from(s.slice(3), "base64"));
    const ok = keys.some((k) => given.some((g) => same(createHmac("sha256", k).update(signed).digest(), g)));
    if (!ok) throw new Error("signature does not match");
  } else {
    const parts = (h["sage-bridge-signature"] ?? "").split(",").map((p) => p.trim().split("="));
    const t = parts.find(([k]) => k === "t")?.[1];
    const given = parts.filter(([k]) => k === "v1").map(([, v]) => Buffer.from(v ?? ""));
    fresh(t);
    const signed = Buffer.concat([Buffer.from(`${t}.`), body]);
    const ok = keys.some((k) => given.some((g) => same(Buffer.from(createHmac("sha256", k).update(signed).digest("hex")), g)));
    if (!ok) throw new Error("signature does not match");
  }
  return JSON.parse(body.toString("utf8"));
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const [command, file, headersFile] = process.argv.slice(2);
  if (!secrets.length) { console.error("set SAGEBRIDGE_WEBHOOK_SECRET"); process.exit(2); }
  if (command === "sign") {
    console.log(sign(readFileSync(file), secrets[0]));
  } else if (command === "verify") {
    try {
      const event = verifyDelivery(readFileSync(file), JSON.parse(readFileSync(headersFile, "utf8")), secrets);
      console.log(event.type);
    } catch (err) {
      console.error(`refused: ${err.message}`);
      process.exit(1);
    }
  } else {
    console.error("usage: node sagebridge.mjs sign <event.json> | verify <body> <headers.json>");
    process.exit(2);
  }
}
