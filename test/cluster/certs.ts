// Certificates for one local control plane: a CA, the apiserver's serving certificate, an
// admin client certificate in system:masters, and the service-account signing key. ECDSA
// P-256 keeps generation in the tens of milliseconds. openssl is part of Debian's base.
import { execFileSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";

export type Pki = {
  caCert: string;
  serverCert: string;
  serverKey: string;
  adminCert: string;
  adminKey: string;
  serviceAccountKey: string;
  serviceAccountPub: string;
};

const openssl = (dir: string, ...args: string[]) => execFileSync("openssl", args, { cwd: dir, stdio: "pipe" });
const ecKey = (dir: string, name: string) =>
  openssl(dir, "ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", name);

function signed(dir: string, name: string, subject: string, extensions: string) {
  ecKey(dir, `${name}.key`);
  openssl(dir, "req", "-new", "-key", `${name}.key`, "-subj", subject, "-out", `${name}.csr`);
  writeFileSync(join(dir, `${name}.ext`), extensions);
  openssl(
    dir,
    "x509",
    "-req",
    "-in",
    `${name}.csr`,
    "-CA",
    "ca.crt",
    "-CAkey",
    "ca.key",
    "-CAcreateserial",
    "-days",
    "30",
    "-sha256",
    "-extfile",
    `${name}.ext`,
    "-out",
    `${name}.crt`,
  );
}

export function generatePki(dir: string, serviceIp: string): Pki {
  ecKey(dir, "ca.key");
  openssl(
    dir,
    "req",
    "-x509",
    "-new",
    "-key",
    "ca.key",
    "-subj",
    "/CN=atrium-local-ca",
    "-days",
    "30",
    "-sha256",
    "-addext",
    "basicConstraints=critical,CA:TRUE",
    "-addext",
    "keyUsage=critical,keyCertSign,cRLSign",
    "-out",
    "ca.crt",
  );
  signed(
    dir,
    "apiserver",
    "/CN=kube-apiserver",
    `keyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1,IP:${serviceIp},DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc\n`,
  );
  signed(
    dir,
    "admin",
    "/O=system:masters/CN=atrium-admin",
    "keyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=clientAuth\n",
  );
  ecKey(dir, "sa.key");
  openssl(dir, "ec", "-in", "sa.key", "-pubout", "-out", "sa.pub");
  const at = (f: string) => join(dir, f);
  return {
    caCert: at("ca.crt"),
    serverCert: at("apiserver.crt"),
    serverKey: at("apiserver.key"),
    adminCert: at("admin.crt"),
    adminKey: at("admin.key"),
    serviceAccountKey: at("sa.key"),
    serviceAccountPub: at("sa.pub"),
  };
}
