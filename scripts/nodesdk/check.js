// check.js drives the official Mangopay Node SDK (mangopay4-nodejs-sdk) against the
// simulator (cmd/mangosim) and fails (exit 1) on any difference from what the SDK and
// docs/mangopay.md expect. Run it through run.sh, which starts the simulator.
//
// Environment: MANGOSIM_URL (base URL, no /v2.01), MANGOSIM_CLIENT_ID, MANGOSIM_API_KEY.
'use strict';

const crypto = require('crypto');
const mangopay = require('mangopay4-nodejs-sdk');

const baseUrl = process.env.MANGOSIM_URL || 'http://127.0.0.1:8099';
const clientId = process.env.MANGOSIM_CLIENT_ID || 'sim-client';
const clientApiKey = process.env.MANGOSIM_API_KEY || 'sim-api-key';

const errors = [];
const api = new mangopay({
  clientId,
  clientApiKey,
  baseUrl,
  // The SDK logs every rejected call through errorHandler; keep the output to our lines.
  errorHandler: function () {},
});

function show(label, value) {
  console.log(label + ' ' + JSON.stringify(value));
}

function check(cond, what) {
  if (!cond) {
    errors.push(what);
    console.log('FAIL ' + what);
  }
}

// plain copies the SDK model objects (EntityBase) to plain JSON.
function plain(v) {
  return JSON.parse(JSON.stringify(v));
}

async function expectReject(label, promise) {
  try {
    const v = await promise;
    check(false, label + ': resolved ' + JSON.stringify(v) + ', want an error');
    return null;
  } catch (err) {
    show(label, err);
    return err;
  }
}

const linkRe = /^https:\/\/sca\.sandbox\.mangopay\.com\/\?token=[0-9a-f]{32}$/;

async function main() {
  console.log('sdk mangopay4-nodejs-sdk ' + require('mangopay4-nodejs-sdk/package.json').version + ' baseUrl ' + baseUrl);

  // 1. GET /sca/users/{id} of a legal owner (nested LegalRepresentative).
  const legal = plain(await api.Users.getSca('user_m_owner_legal'));
  show('Users.getSca(user_m_owner_legal)', legal);
  check(legal.UserCategory === 'OWNER' && legal.PersonType === 'LEGAL', 'legal owner category/person type');
  check(legal.LegalRepresentative && legal.LegalRepresentative.Email === 'rep@example.com', 'legal representative email');
  check(legal.PendingUserAction === null, 'PendingUserAction null');

  // 2. sca-status before any enrollment: 404.
  const before = await expectReject('Users.getScaStatus(user_m_owner_natural) before enroll ->',
    api.Users.getScaStatus('user_m_owner_natural'));
  check(before && before.Type === 'ressource_not_found', 'sca-status 404 before enrollment');

  // 3. Enroll a natural owner.
  const enrolled = plain(await api.Users.enroll('user_m_owner_natural'));
  show('Users.enroll(user_m_owner_natural)', enrolled);
  check(enrolled.PendingUserAction && linkRe.test(enrolled.PendingUserAction.RedirectUrl), 'RedirectUrl shape');

  // 4. sca-status after the enrollment was triggered.
  const status = plain(await api.Users.getScaStatus('user_m_owner_natural'));
  show('Users.getScaStatus(user_m_owner_natural)', status);
  check(status.UserStatus === 'ACTIVE' && status.IsEnrolled === false, 'sca-status after enroll');

  // 5. Documented errors.
  const payer = await expectReject('Users.enroll(user_m_payer) ->', api.Users.enroll('user_m_payer'));
  check(payer && payer.Type === 'not_allowed_for_user_category_payer', 'payer error type');
  const norep = await expectReject('Users.enroll(user_m_owner_legal_norep) ->', api.Users.enroll('user_m_owner_legal_norep'));
  check(norep && norep.Type === 'param_error' && norep.errors &&
    norep.errors['LegalRepresentative.Email'] === "'Email' must not be empty.", 'missing rep email error');

  // 6. Idempotency: enroll with a key (SDK options.headers), reuse it (409), read it back.
  const key = 'nodesdk-' + crypto.randomBytes(12).toString('hex'); // 32 chars
  const opts = api.OptionsHelper.withIdempotency({}, key);
  const first = plain(await api.Users.enroll('user_m_owner_natural_2', opts));
  show('Users.enroll(user_m_owner_natural_2, Idempotency-Key ' + key + ')', first);
  check(first.PendingUserAction && linkRe.test(first.PendingUserAction.RedirectUrl), 'keyed RedirectUrl shape');

  const again = await expectReject('Users.enroll(user_m_owner_natural_2, same key) ->',
    api.Users.enroll('user_m_owner_natural_2', api.OptionsHelper.withIdempotency({}, key)));
  check(again && again.Type === 'idempotent_creation_conflict', '409 on key reuse');

  const stored = plain(await api.Idempotency.get(key));
  show('Idempotency.get(' + key + ')', stored);
  check(stored.StatusCode === '200', 'stored StatusCode "200"');
  check(stored.Resource && stored.Resource.PendingUserAction &&
    stored.Resource.PendingUserAction.RedirectUrl === first.PendingUserAction.RedirectUrl, 'stored Resource is the first answer');
  check(!isNaN(Date.parse(stored.Date)), 'stored Date is an HTTP-date');

  // 7. Rate limits as the SDK parsed them from the repeated headers.
  show('api.rateLimits', api.rateLimits);
  check(api.rateLimits.length === 4, 'four rate-limit windows');
  check(api.rateLimits.map(r => r.minutesInterval).join(',') === '15,30,60,1440', 'windows 15,30,60,1440 minutes');
}

main().then(() => {
  if (errors.length > 0) {
    console.log('FAILED: ' + errors.length + ' check(s)');
    process.exit(1);
  }
  console.log('OK: the SDK saw no difference');
}, (err) => {
  console.log('ERROR ' + (err && err.stack ? err.stack : JSON.stringify(err)));
  process.exit(1);
});
