/**
 * Microsoft Teams through a Workflows (Power Automate) webhook, the replacement for the retired Office 365
 * connectors of `teams://` (https://learn.microsoft.com/en-us/microsoftteams/platform/webhooks-and-connectors/how-to/connectors-using).
 * A flow built from the "Send webhook alerts to a channel" template (trigger "When a Teams webhook request
 * is received") takes an Adaptive Card inside a message with one attachment and posts it to the channel;
 * Workflows does not render the connectors' MessageCard.
 *
 * The URL is the flow's HTTP URL with `teams+` put in front: `teams+https://HOST/…/invoke?api-version=…&sig=…`.
 * Everything after the scheme is sent to exactly as given — the query carries the flow's signature.
 * `teams+http://` exists for proxies and tests on loopback.
 */

export interface TeamsWorkflowsTarget {
  kind: "teams-workflows";
  /** The flow's HTTP URL, e.g. https://prod-00.westus.logic.azure.com:443/workflows/ID/triggers/manual/paths/invoke?… */
  webhook: string;
}

/** The target for a `teams+https://` URL, or a reason it cannot work (the caller adds the accepted forms). */
export function parseTeamsWorkflows(raw: string): TeamsWorkflowsTarget | string {
  const m = /^teams\+(https?):\/\//i.exec(raw);
  if (!m?.[1]) return "a Teams Workflows URL starts with teams+https://";
  let url: URL;
  try {
    url = new URL(`${m[1].toLowerCase()}://${raw.slice(m[0].length)}`);
  } catch {
    return "not a parsable URL";
  }
  if (!url.hostname) return "a Teams Workflows URL needs the host of the flow's HTTP URL";
  if (url.username || url.password) return "a Teams Workflows URL carries no user or password";
  if (url.pathname.length <= 1) {
    return "a Teams Workflows URL needs the whole HTTP URL of the flow (…/workflows/ID/triggers/manual/paths/invoke?…)";
  }
  return { kind: "teams-workflows", webhook: url.href };
}

/**
 * The message the webhook trigger expects: one Adaptive Card attachment with the title in bold and the
 * message below (https://learn.microsoft.com/en-us/connectors/teams/#microsoft-teams-webhook).
 */
export function workflowsPayload(n: { title: string; message: string }): unknown {
  return {
    type: "message",
    attachments: [{
      contentType: "application/vnd.microsoft.card.adaptive",
      contentUrl: null,
      content: {
        $schema: "http://adaptivecards.io/schemas/adaptive-card.json",
        type: "AdaptiveCard",
        version: "1.4",
        body: [
          { type: "TextBlock", text: n.title, weight: "Bolder", size: "Medium", wrap: true },
          { type: "TextBlock", text: n.message, wrap: true },
        ],
      },
    }],
  };
}

/** What must never reach a log: the URL, and its signature (`sig`) on its own. */
export function workflowsSecrets(t: TeamsWorkflowsTarget): string[] {
  const u = new URL(t.webhook);
  return [t.webhook, u.search, u.searchParams.get("sig") ?? ""].filter((s) => s.length > 1);
}
