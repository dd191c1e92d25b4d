// The AWS SDK for JavaScript v3 (@aws-sdk/client-kms) against a running `kmscli serve`.
//
// Driven by tests/serve/test_js_sdk.py: reads {modules, endpoint, region, keys: {name: [id, secret]},
// account} as JSON on stdin, and optionally ca (the PEM certificate an https endpoint is trusted by,
// given to the SDK's https.Agent) and steps (the names of the steps to run; all when absent). Runs
// the steps below in order and prints ONE JSON object: per step, what it observed ({"ok": ...}) or
// the error the SDK raised ({"error": {name, message, ...}}).
// A step never stops the others, so one failure shows with everything else that happened.
import { createRequire } from "node:module";
import crypto from "node:crypto";
import fs from "node:fs";
import https from "node:https";
import path from "node:path";

const config = JSON.parse(fs.readFileSync(0, "utf8"));

// the SDK comes from the cached install the test made (tests/serve/js/package-lock.json)
const require = createRequire(path.join(config.modules, "package.json"));
const kms = require("@aws-sdk/client-kms");
// over https, the SDK's HTTP handler with an agent that trusts config.ca (and keeps connections
// alive, as the SDK's own agent does)
const transport = config.ca ? { requestHandler: { httpsAgent: new https.Agent({ keepAlive: true, ca: config.ca }) } } : {};

function client(who, secret) {
  const [accessKeyId, realSecret] = config.keys[who];
  return new kms.KMSClient({
    region: config.region,
    endpoint: config.endpoint,
    credentials: { accessKeyId, secretAccessKey: secret ?? realSecret },
    ...transport,
  });
}

const admin = client("admin");
const alice = client("alice");
const bob = client("bob");
const results = {};
const text = (s) => new TextEncoder().encode(s);
const decode = (b) => new TextDecoder().decode(b);
const isBytes = (b) => b instanceof Uint8Array;

function describeError(err) {
  return {
    name: err.name,
    message: err.message,
    typed: err instanceof kms.KMSServiceException,
    fault: err.$fault,
    status: err.$metadata?.httpStatusCode,
    attempts: err.$metadata?.attempts,
    requestId: err.$metadata?.requestId,
    code: err.code,
  };
}

async function step(name, body) {
  if (config.steps && !config.steps.includes(name)) return;
  try {
    results[name] = { ok: await body() };
  } catch (err) {
    results[name] = { error: describeError(err) };
  }
}

// the error a call is expected to raise, as the SDK surfaces it (a call that succeeds is a failure)
async function failure(call) {
  try {
    await call();
  } catch (err) {
    return describeError(err);
  }
  return { name: "no error", message: "the call succeeded" };
}

const rootArn = `arn:aws:iam::${config.account}:root`;
const policy = JSON.stringify({
  Version: "2012-10-17",
  Id: "js-sdk",
  Statement: [{ Sid: "Root", Effect: "Allow", Principal: { AWS: rootArn }, Action: "kms:*", Resource: "*" }],
});
// a key policy that names alice only (no account root, so no delegation to the account's users)
const aliceOnly = JSON.stringify({
  Version: "2012-10-17",
  Statement: [{
    Sid: "AliceOnly", Effect: "Allow",
    Principal: { AWS: `arn:aws:iam::${config.account}:user/alice` }, Action: "kms:*", Resource: "*",
  }],
});
const context = { purpose: "js-sdk", "unicode é": "✓" };
let keyId, keyArn;

await step("createKey", async () => {
  const out = await admin.send(new kms.CreateKeyCommand({
    Description: "made by the JS SDK",
    Policy: policy,
    Tags: [{ TagKey: "team", TagValue: "js" }],
  }));
  keyId = out.KeyMetadata.KeyId;
  keyArn = out.KeyMetadata.Arn;
  return {
    keyId,
    arn: keyArn,
    creationDateIsDate: out.KeyMetadata.CreationDate instanceof Date,
    creationDateMs: out.KeyMetadata.CreationDate?.getTime(),
    keySpec: out.KeyMetadata.KeySpec,
    enabled: out.KeyMetadata.Enabled,
    requestId: out.$metadata.requestId,
    attempts: out.$metadata.attempts,
  };
});

await step("describeKey", async () => {
  const out = await admin.send(new kms.DescribeKeyCommand({ KeyId: keyArn }));
  const tags = await admin.send(new kms.ListResourceTagsCommand({ KeyId: keyId }));
  const got = await admin.send(new kms.GetKeyPolicyCommand({ KeyId: keyId, PolicyName: "default" }));
  return {
    keyId: out.KeyMetadata.KeyId,
    description: out.KeyMetadata.Description,
    creationDateIsDate: out.KeyMetadata.CreationDate instanceof Date,
    creationDateMs: out.KeyMetadata.CreationDate?.getTime(),
    keyUsage: out.KeyMetadata.KeyUsage,
    tags: tags.Tags,
    policy: JSON.parse(got.Policy),
  };
});

let ciphertext;
await step("encryptDecrypt", async () => {
  const enc = await admin.send(new kms.EncryptCommand({
    KeyId: keyId, Plaintext: text("hello from node"), EncryptionContext: context,
  }));
  ciphertext = enc.CiphertextBlob;
  const dec = await admin.send(new kms.DecryptCommand({ CiphertextBlob: ciphertext, EncryptionContext: context }));
  return {
    ciphertextIsBytes: isBytes(ciphertext),
    encryptKeyId: enc.KeyId,
    plaintext: decode(dec.Plaintext),
    decryptKeyId: dec.KeyId,
    algorithm: dec.EncryptionAlgorithm,
  };
});

await step("decryptWrongContext", async () => {
  const err = await failure(() =>
    admin.send(new kms.DecryptCommand({ CiphertextBlob: ciphertext, EncryptionContext: { purpose: "other" } })));
  return err;
});

await step("decryptWrongContextTyped", async () => {
  try {
    await admin.send(new kms.DecryptCommand({ CiphertextBlob: ciphertext, EncryptionContext: {} }));
  } catch (err) {
    return { invalidCiphertextClass: err instanceof kms.InvalidCiphertextException, name: err.name };
  }
  return { invalidCiphertextClass: false, name: "no error" };
});

let dataKeyBlob;
await step("generateDataKey", async () => {
  const out = await admin.send(new kms.GenerateDataKeyCommand({
    KeyId: keyId, KeySpec: "AES_256", EncryptionContext: context,
  }));
  dataKeyBlob = out.CiphertextBlob;
  const back = await admin.send(new kms.DecryptCommand({ CiphertextBlob: out.CiphertextBlob, EncryptionContext: context }));
  return {
    plaintextLength: out.Plaintext.length,
    decryptsToSame: Buffer.from(back.Plaintext).equals(Buffer.from(out.Plaintext)),
  };
});

await step("reEncrypt", async () => {
  const other = await admin.send(new kms.CreateKeyCommand({ Description: "re-encrypt target" }));
  const out = await admin.send(new kms.ReEncryptCommand({
    CiphertextBlob: ciphertext,
    SourceEncryptionContext: context,
    DestinationKeyId: other.KeyMetadata.KeyId,
    DestinationEncryptionContext: { moved: "yes" },
  }));
  const dec = await admin.send(new kms.DecryptCommand({ CiphertextBlob: out.CiphertextBlob, EncryptionContext: { moved: "yes" } }));
  return {
    sourceKeyId: out.SourceKeyId,
    keyId: out.KeyId,
    destinationArn: other.KeyMetadata.Arn,
    plaintext: decode(dec.Plaintext),
  };
});

await step("signVerify", async () => {
  const key = await admin.send(new kms.CreateKeyCommand({ KeySpec: "ECC_NIST_P256", KeyUsage: "SIGN_VERIFY" }));
  const id = key.KeyMetadata.KeyId;
  const message = text("a message signed by kmscli, checked by node");
  const signed = await admin.send(new kms.SignCommand({
    KeyId: id, Message: message, MessageType: "RAW", SigningAlgorithm: "ECDSA_SHA_256",
  }));
  const verified = await admin.send(new kms.VerifyCommand({
    KeyId: id, Message: message, MessageType: "RAW", SigningAlgorithm: "ECDSA_SHA_256", Signature: signed.Signature,
  }));
  const tampered = await failure(() => admin.send(new kms.VerifyCommand({
    KeyId: id, Message: text("another message"), MessageType: "RAW", SigningAlgorithm: "ECDSA_SHA_256",
    Signature: signed.Signature,
  })));
  const pub = await admin.send(new kms.GetPublicKeyCommand({ KeyId: id }));
  const publicKey = crypto.createPublicKey({ key: Buffer.from(pub.PublicKey), format: "der", type: "spki" });
  const check = (msg) => crypto.verify("sha256", msg, { key: publicKey, dsaEncoding: "der" }, signed.Signature);
  return {
    signatureIsBytes: isBytes(signed.Signature),
    signingAlgorithm: signed.SigningAlgorithm,
    kmsVerified: verified.SignatureValid,
    tampered,
    publicKeySpec: pub.KeySpec,
    curve: publicKey.asymmetricKeyDetails?.namedCurve,
    nodeVerified: check(message),
    nodeRejectsOther: !check(text("another message")),
  };
});

await step("mac", async () => {
  const key = await admin.send(new kms.CreateKeyCommand({ KeySpec: "HMAC_256", KeyUsage: "GENERATE_VERIFY_MAC" }));
  const id = key.KeyMetadata.KeyId;
  const message = text("mac me");
  const mac = await admin.send(new kms.GenerateMacCommand({ KeyId: id, Message: message, MacAlgorithm: "HMAC_SHA_256" }));
  const ok = await admin.send(new kms.VerifyMacCommand({ KeyId: id, Message: message, MacAlgorithm: "HMAC_SHA_256", Mac: mac.Mac }));
  const bad = await failure(() => admin.send(new kms.VerifyMacCommand({
    KeyId: id, Message: text("other"), MacAlgorithm: "HMAC_SHA_256", Mac: mac.Mac,
  })));
  return { macLength: mac.Mac.length, macValid: ok.MacValid, bad };
});

await step("listKeysPaged", async () => {
  const pages = [];
  const ids = [];
  let marker;
  do {
    const out = await admin.send(new kms.ListKeysCommand({ Limit: 2, Marker: marker }));
    pages.push({ count: out.Keys.length, truncated: out.Truncated, hasMarker: out.NextMarker !== undefined });
    ids.push(...out.Keys.map((k) => k.KeyId));
    marker = out.NextMarker;
  } while (marker !== undefined && pages.length < 50);
  // the SDK's own paginator walks the same pages
  const viaPaginator = [];
  for await (const page of kms.paginateListKeys({ client: admin, pageSize: 2 }, {})) {
    viaPaginator.push(...page.Keys.map((k) => k.KeyId));
  }
  return { pages, ids, viaPaginator };
});

await step("aliases", async () => {
  await admin.send(new kms.CreateAliasCommand({ AliasName: "alias/js-sdk", TargetKeyId: keyId }));
  const out = await admin.send(new kms.ListAliasesCommand({ KeyId: keyId }));
  const viaAlias = await admin.send(new kms.DescribeKeyCommand({ KeyId: "alias/js-sdk" }));
  return {
    aliases: out.Aliases.map((a) => ({ name: a.AliasName, target: a.TargetKeyId, arn: a.AliasArn })),
    creationDateIsDate: out.Aliases[0]?.CreationDate instanceof Date,
    viaAliasKeyId: viaAlias.KeyMetadata.KeyId,
  };
});

await step("grants", async () => {
  const bobArn = `arn:aws:iam::${config.account}:user/bob`;
  const key = await admin.send(new kms.CreateKeyCommand({ Policy: aliceOnly, BypassPolicyLockoutSafetyCheck: true }));
  const grantKeyId = key.KeyMetadata.KeyId;
  const denied = await failure(() => bob.send(new kms.EncryptCommand({ KeyId: grantKeyId, Plaintext: text("x") })));
  const made = await alice.send(new kms.CreateGrantCommand({
    KeyId: grantKeyId,
    GranteePrincipal: bobArn,
    Operations: ["Encrypt", "Decrypt"],
    Constraints: { EncryptionContextSubset: { purpose: "js-sdk" } },
    Name: "js-grant",
  }));
  const listed = await alice.send(new kms.ListGrantsCommand({ KeyId: grantKeyId }));
  const allowed = await bob.send(new kms.EncryptCommand({
    KeyId: grantKeyId, Plaintext: text("x"), EncryptionContext: { purpose: "js-sdk" }, GrantTokens: [made.GrantToken],
  }));
  return {
    deniedBefore: denied.name,
    grantIdIsString: typeof made.GrantId === "string" && made.GrantId.length > 0,
    grants: listed.Grants.map((g) => ({
      id: g.GrantId,
      name: g.Name,
      grantee: g.GranteePrincipal,
      operations: g.Operations,
      constraints: g.Constraints,
      creationDateIsDate: g.CreationDate instanceof Date,
    })),
    madeGrantId: made.GrantId,
    bobEncrypted: isBytes(allowed.CiphertextBlob),
  };
});

await step("accessDenied", async () => {
  const key = await admin.send(new kms.CreateKeyCommand({ Policy: aliceOnly, BypassPolicyLockoutSafetyCheck: true }));
  const err = await failure(() => bob.send(new kms.EncryptCommand({ KeyId: key.KeyMetadata.KeyId, Plaintext: text("x") })));
  let typedClass = false;
  try {
    await bob.send(new kms.DescribeKeyCommand({ KeyId: key.KeyMetadata.KeyId }));
  } catch (e) {
    typedClass = e.name === "AccessDeniedException" && e instanceof kms.KMSServiceException;
  }
  return { ...err, describeTyped: typedClass, keyArn: key.KeyMetadata.Arn };
});

await step("notFound", async () => {
  const err = await failure(() => admin.send(new kms.DescribeKeyCommand({ KeyId: "11111111-2222-3333-4444-555555555555" })));
  let typedClass = false;
  try {
    await admin.send(new kms.DescribeKeyCommand({ KeyId: "alias/nothing-here" }));
  } catch (e) {
    typedClass = e instanceof kms.NotFoundException;
  }
  return { ...err, aliasTyped: typedClass };
});

await step("wrongSecret", async () => failure(() =>
  client("admin", "not-the-secret-access-key-at-all-00000000").send(new kms.ListKeysCommand({})))
);

await step("unknownAccessKey", async () => failure(() =>
  new kms.KMSClient({
    region: config.region,
    endpoint: config.endpoint,
    credentials: { accessKeyId: "AKIAIOSFODNN7EXAMPLE", secretAccessKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY" },
    ...transport,
  }).send(new kms.ListKeysCommand({})))
);

// The JS SDK validates nothing on the client (botocore checks required members, ranges and types
// before sending), so what the server's own validation answers reaches the caller.
await step("serverValidation", async () => ({
  missingKeyId: await failure(() => admin.send(new kms.EncryptCommand({ Plaintext: text("x") }))),
  outOfRange: await failure(() => admin.send(new kms.GenerateRandomCommand({ NumberOfBytes: 5000 }))),
  wrongType: await failure(() => admin.send(new kms.GenerateRandomCommand({ NumberOfBytes: "12" }))),
  emptyListAndMap: isBytes((await admin.send(new kms.EncryptCommand({
    KeyId: keyId, Plaintext: text("x"), EncryptionContext: {}, GrantTokens: [],
  }))).CiphertextBlob),
}));

await step("keyDeletion", async () => {
  const key = await admin.send(new kms.CreateKeyCommand({}));
  const id = key.KeyMetadata.KeyId;
  const out = await admin.send(new kms.ScheduleKeyDeletionCommand({ KeyId: id, PendingWindowInDays: 7 }));
  const pending = await admin.send(new kms.DescribeKeyCommand({ KeyId: id }));
  await admin.send(new kms.CancelKeyDeletionCommand({ KeyId: id }));
  return {
    deletionDateIsDate: out.DeletionDate instanceof Date,
    days: Math.round((out.DeletionDate - key.KeyMetadata.CreationDate) / 86400000),
    keyState: pending.KeyMetadata.KeyState,
    describedDeletionDateMs: pending.KeyMetadata.DeletionDate?.getTime(),
    deletionDateMs: out.DeletionDate.getTime(),
  };
});

// Many requests at once: the SDK's keep-alive agent opens several connections.
await step("concurrent", async () => {
  const count = 24;
  const plaintexts = Array.from({ length: count }, (_, i) => `message ${i}`);
  const back = await Promise.all(plaintexts.map(async (p) => {
    const enc = await admin.send(new kms.EncryptCommand({ KeyId: keyId, Plaintext: text(p), EncryptionContext: context }));
    const dec = await admin.send(new kms.DecryptCommand({ CiphertextBlob: enc.CiphertextBlob, EncryptionContext: context }));
    return { text: decode(dec.Plaintext), attempts: enc.$metadata.attempts + dec.$metadata.attempts };
  }));
  return {
    allBack: back.every((r, i) => r.text === plaintexts[i]),
    maxAttemptsPerPair: Math.max(...back.map((r) => r.attempts)),
    count: back.length,
  };
});

// Bodies over --max-body-bytes (256 KiB): refused by kmscli (300 KiB of plaintext, 400 KiB of
// base64) or by cheroot before reading (1.2 MB); either way a JSON 413 the SDK reads, not a reset.
await step("oversized", async () => ({
  overLimit: await failure(() => admin.send(new kms.EncryptCommand({ KeyId: keyId, Plaintext: new Uint8Array(300 * 1024) }))),
  farOver: await failure(() => admin.send(new kms.EncryptCommand({ KeyId: keyId, Plaintext: new Uint8Array(1_200_000) }))),
  nextCallWorks: (await admin.send(new kms.DescribeKeyCommand({ KeyId: keyId }))).KeyMetadata.KeyId === keyId,
}));

// A client whose clock is 20 minutes slow: AWS answers InvalidSignatureException ("Signature
// expired"), and the SDK corrects its clock offset from the response's Date header and retries.
await step("skewedClock", async () => {
  const [accessKeyId, secretAccessKey] = config.keys.admin;
  const skewed = new kms.KMSClient({
    region: config.region,
    endpoint: config.endpoint,
    credentials: { accessKeyId, secretAccessKey },
    systemClockOffset: -20 * 60 * 1000,
    ...transport,
  });
  const out = await skewed.send(new kms.ListAliasesCommand({ KeyId: keyId }));
  return { attempts: out.$metadata.attempts, correctedOffsetMs: skewed.config.systemClockOffset };
});

// Over https, a client that does not trust the server's self-signed certificate: node refuses the
// handshake, so no request is sent.
if (config.ca) {
  await step("untrustedRefused", async () => failure(() => {
    const [accessKeyId, secretAccessKey] = config.keys.admin;
    return new kms.KMSClient({
      region: config.region, endpoint: config.endpoint, credentials: { accessKeyId, secretAccessKey },
    }).send(new kms.ListKeysCommand({}));
  }));
}

results.versions = { node: process.version, sdk: require("@aws-sdk/client-kms/package.json").version };
process.stdout.write(JSON.stringify(results) + "\n");
