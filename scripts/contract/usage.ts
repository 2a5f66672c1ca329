// A program written against the TypeScript types generated from the contract
// (openapi-typescript) with openapi-fetch: one call or more per tag, so that `tsc --strict`
// proves every tag's operations, bodies and answers are typed as a client needs them.
import createClient from "openapi-fetch";
import type { components, paths } from "../../target/contract/api";

type Schemas = components["schemas"];

export async function walkthrough(baseUrl: string, token: string): Promise<string[]> {
  const api = createClient<paths>({
    baseUrl,
    headers: { Authorization: `Bearer ${token}` },
  });
  const seen: string[] = [];

  // partners
  const contact: Schemas["Contact"] = { name: "Pat", email: "pat@fabrikam.com", phone: "+31 20" };
  const partner = await api.PUT("/partners/{partner_id}", {
    params: { path: { partner_id: "fabrikam" } },
    body: { name: "Fabrikam", contact },
  });
  if (partner.data) seen.push(partner.data.id);

  // accounts
  const account = await api.POST("/accounts", {
    body: { name: "Contoso", domain: "contoso.com", online_services: [] },
  });
  if (!account.data) return ["no account"];
  const accountId: string = account.data.id;
  const again = await api.GET("/accounts/{account_id}", {
    params: { path: { account_id: accountId } },
  });
  seen.push(again.data?.domain ?? "");

  // subscriptions
  const line: Schemas["Line"] = { sku: "d365-sales-professional", quantity: 50 };
  const sub = await api.POST("/accounts/{account_id}/subscriptions", {
    params: { path: { account_id: accountId } },
    body: { billing: "credit_card", lines: [line] },
  });
  const subscriptionId = sub.data?.id ?? "";
  const subs = await api.GET("/accounts/{account_id}/subscriptions", {
    params: { path: { account_id: accountId }, query: { status: "active", order: "desc" } },
  });
  for (const s of subs.data?.subscriptions ?? []) seen.push(s.status);
  const preview = await api.GET(
    "/accounts/{account_id}/subscriptions/{subscription_id}/cancellation-preview",
    { params: { path: { account_id: accountId, subscription_id: subscriptionId } } },
  );
  const wouldPass: boolean = preview.data?.would_pass ?? false;
  seen.push(String(wouldPass));

  // licenses
  const pool = await api.GET("/accounts/{account_id}/licenses", {
    params: { path: { account_id: accountId } },
  });
  const totals: Schemas["SkuTotal"][] = pool.data?.skus ?? [];
  const sources = await api.GET("/accounts/{account_id}/licenses/sources", {
    params: { path: { account_id: accountId }, query: { sku: "d365-sales-professional", limit: 10 } },
  });
  const kinds: Schemas["SourceKind"][] = (sources.data?.sources ?? []).map((s) => s.kind);
  seen.push(`${totals.length}:${kinds.join(",")}`);

  // agreements
  const agreement = await api.POST("/agreements", {
    body: {
      program: "EA",
      customer: { number: "4711", legal_name: "Contoso Ltd", country: "NL" },
      osm: { name: "Olivia", email: "olivia@contoso.com" },
      start_date: "2026-03-15",
      online_services_account_id: accountId,
    },
  });
  const agreementId = agreement.data?.id ?? "";
  const trueUp = await api.GET("/agreements/{agreement_id}/true-up-preview", {
    params: { path: { agreement_id: agreementId } },
  });
  seen.push(trueUp.data?.anniversary ?? "");

  // orders
  const order = await api.POST("/orders", {
    body: { agreement_id: agreementId, lines: [line] },
    params: { header: { "Idempotency-Key": "order-1" } },
  });
  const orderId = order.data?.id ?? "";
  const invoiced = await api.POST("/orders/{order_id}/invoice", {
    params: { path: { order_id: orderId } },
  });
  const state: Schemas["ActivationEmailState"] | null | undefined = invoiced.data?.activation_email;
  seen.push(state ?? "none");
  const orders = await api.GET("/agreements/{agreement_id}/orders", {
    params: { path: { agreement_id: agreementId }, query: { limit: 2 } },
  });
  const next: string | null | undefined = orders.data?.next_cursor;
  seen.push(next ?? "last page");

  // reservations
  const reservation = await api.POST("/agreements/{agreement_id}/reservations", {
    params: { path: { agreement_id: agreementId } },
    body: { lines: [{ sku: "d365-team-members", quantity: 2 }] },
  });
  const reservationId = reservation.data?.id ?? "";
  const cancelled = await api.POST("/reservations/{reservation_id}/cancel", {
    params: { path: { reservation_id: reservationId } },
  });
  const status: Schemas["ReservationStatus"] | undefined = cancelled.data?.status;
  seen.push(status ?? "");

  // audit
  const events = await api.GET("/agreements/{agreement_id}/events", {
    params: { path: { agreement_id: agreementId }, query: { order: "desc" } },
  });
  for (const e of events.data?.events ?? []) seen.push(e.action);

  // activation
  const resend = await api.POST("/agreements/{agreement_id}/activation-email/resend", {
    params: { path: { agreement_id: agreementId } },
    body: { legal_name: "Contoso Ltd", country: "NL" },
  });
  if (resend.error) {
    const problem: Schemas["Problem"] | Schemas["GatewayError"] = resend.error;
    seen.push("code" in problem ? problem.code : problem.message);
  }
  return seen;
}
