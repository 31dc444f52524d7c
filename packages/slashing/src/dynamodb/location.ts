import { SlashingProtectionError } from "../protection.ts";

export interface DynamoLocation {
  readonly table: string;
  readonly region?: string;
  readonly endpoint?: URL;
}

/** `dynamodb://TABLE?region=…&endpoint=…`; `what` names the URL in errors ("slashing-protection database URL"). */
export function parseDynamoLocation(url: URL, what = "slashing-protection database URL"): DynamoLocation {
  const fail = (problem: string): never => {
    throw new SlashingProtectionError(`${what}: ${problem}; expected dynamodb://TABLE?region=REGION[&endpoint=http(s)://host:port]`);
  };
  if (url.username !== "" || url.password !== "") fail("no credentials in the URL (the AWS SDK's default credential chain is used)");
  if (!/^[A-Za-z0-9_.-]{3,255}$/.test(url.hostname) || url.port !== "" || (url.pathname !== "" && url.pathname !== "/")) {
    fail("the table name (3 to 255 of A-Z a-z 0-9 _ . -) must be the whole host part");
  }
  for (const name of url.searchParams.keys()) if (name !== "region" && name !== "endpoint") fail(`unknown parameter "${name}"`);
  const region = url.searchParams.get("region") ?? undefined;
  const endpointText = url.searchParams.get("endpoint");
  let endpoint: URL | undefined;
  if (endpointText !== null) {
    endpoint = URL.canParse(endpointText) ? new URL(endpointText) : undefined;
    if (endpoint === undefined || (endpoint.protocol !== "http:" && endpoint.protocol !== "https:") || endpoint.username !== "" || endpoint.password !== "") {
      fail("endpoint must be an http(s) URL without credentials");
    }
  }
  return { table: url.hostname, region, endpoint };
}

