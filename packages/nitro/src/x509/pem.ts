// PEM (RFC 7468) ⇄ DER for certificates.

const BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----([A-Za-z0-9+/=\s]*)-----END \1-----/g;

/** The DER inside the one PEM block with this label; throws RangeError if there is not exactly one or it is not base64. */
export function pemToDer(text: string, label = "CERTIFICATE"): Uint8Array {
  const blocks = [...text.matchAll(BLOCK)].filter((match) => match[1] === label);
  if (blocks.length !== 1) throw new RangeError(`expected one PEM ${label} block, found ${blocks.length}`);
  const body = blocks[0]![2]!.replace(/\s+/g, "");
  if (!/^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/.test(body) || body.length === 0) {
    throw new RangeError(`the PEM ${label} block is not base64`);
  }
  return new Uint8Array(Buffer.from(body, "base64"));
}

export function derToPem(der: Uint8Array, label = "CERTIFICATE"): string {
  const lines = Buffer.from(der).toString("base64").match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${lines.join("\n")}\n-----END ${label}-----\n`;
}
