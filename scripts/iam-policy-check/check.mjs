// Evaluates every DynamoDB request the deployed-stack suite made against the real policy
// of the role that made it, with an IAM policy evaluator (@cloud-copilot/iam-simulate).
//
//   node scripts/iam-policy-check/check.mjs STACK_JSON REQUESTS_JSONL
//
// STACK_JSON is what `scripts/deploy-test-stack --with-roles` wrote: per function its role
// ARN and the role's inline policies as the template defines them, resources resolved by
// the stack. REQUESTS_JSONL holds one line per request: {"function", "action", "resource"}
// (the table ARN, or the index ARN for an index query).
//
// Why: the emulator authorizes DynamoDB on the action alone, so the stack is deployed
// there with DynamoDB resources widened to "*"; the resource half is decided here.
// Prints every denied request and exits 1 if there is one; also lists the DynamoDB grants
// no request used (informational: a grant can serve a path the suite does not take).
import { readFileSync } from 'node:fs'
import { runSimulation } from '@cloud-copilot/iam-simulate'

const [stackPath, requestsPath] = process.argv.slice(2)
if (!stackPath || !requestsPath) {
  console.error('usage: check.mjs STACK_JSON REQUESTS_JSONL')
  process.exit(2)
}
const stack = JSON.parse(readFileSync(stackPath, 'utf8'))
const roles = stack.roles ?? {}
if (Object.keys(roles).length === 0) {
  console.error(`${stackPath}: no roles; deploy with scripts/deploy-test-stack --with-roles`)
  process.exit(2)
}
const lines = readFileSync(requestsPath, 'utf8').split('\n').filter((l) => l.trim() !== '')
if (lines.length === 0) {
  console.error(`${requestsPath}: no DynamoDB requests were recorded`)
  process.exit(1)
}

const distinct = new Map()
for (const line of lines) {
  const r = JSON.parse(line)
  distinct.set(`${r.function} ${r.action} ${r.resource}`, r)
}

const asList = (v) => (Array.isArray(v) ? v : v === undefined ? [] : [v])
const denied = []
const used = new Set()
for (const r of distinct.values()) {
  const role = roles[r.function]
  if (!role) {
    denied.push(`${r.function}: no such function's role in the stack (request ${r.action} on ${r.resource})`)
    continue
  }
  const account = role.role_arn.split(':')[4]
  const response = await runSimulation(
    {
      identityPolicies: role.policies.map((p) => ({ name: p.name, policy: p.document })),
      serviceControlPolicies: [],
      resourceControlPolicies: [],
      request: {
        action: r.action,
        principal: `arn:aws:sts::${account}:assumed-role/${role.role_name}/deployed-suite`,
        resource: { accountId: account, resource: r.resource },
        contextVariables: {},
      },
    },
    {},
  )
  if (response.resultType === 'error') {
    denied.push(`${r.function}: cannot evaluate ${r.action} on ${r.resource}: ${JSON.stringify(response.errors)}`)
    continue
  }
  if (response.overallResult !== 'Allowed') {
    denied.push(
      `${r.function} (${role.role_arn}) is not authorized to perform: ${r.action} on resource: ${r.resource} ` +
        `(${response.overallResult} by the role's policy)`,
    )
    continue
  }
  for (const s of response.result?.analysis?.identityAnalysis?.allowStatements ?? []) {
    used.add(`${r.function} ${s.statement.Sid ?? '?'} ${r.action} ${r.resource}`)
  }
}

// DynamoDB grants no request exercised: (function, action, resource) triples.
const unused = []
for (const [fn, role] of Object.entries(roles)) {
  for (const p of role.policies) {
    for (const st of asList(p.document.Statement)) {
      if (st.Effect !== 'Allow') continue
      for (const action of asList(st.Action).filter((a) => a.startsWith('dynamodb:'))) {
        for (const resource of asList(st.Resource)) {
          const hit = [...distinct.values()].some(
            (r) => r.function === fn && r.action === action && (resource === r.resource || resource === '*' ||
              (resource.endsWith('*') && r.resource.startsWith(resource.slice(0, -1)))),
          )
          if (!hit) unused.push(`${fn} ${st.Sid ?? ''}: ${action} on ${resource}`)
        }
      }
    }
  }
}

console.log(
  `iam policy check: ${lines.length} DynamoDB requests, ${distinct.size} distinct (function, action, resource), ` +
    `${denied.length} denied`,
)
if (unused.length > 0) {
  console.log(`DynamoDB grants no request of this run used (${unused.length}):`)
  for (const u of unused) console.log(`  ${u}`)
}
if (denied.length > 0) {
  console.error('AccessDenied under the stack\'s real role policies:')
  for (const d of denied) console.error(`  ${d}`)
  process.exit(1)
}
