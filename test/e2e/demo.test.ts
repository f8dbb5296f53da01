import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import type { Browser, Page, Request } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DemoServer, startDemoServer } from '../../dev/demo-server.js';
import { type DevIssuer, startDevIssuer } from '../../dev/dev-issuer.js';
import { browserSkipReason, launchBrowser } from '../support/browser.js';
import { type RunningService, startService } from '../support/service.js';

const skipReason = browserSkipReason();
const SCREENSHOT = path.resolve('.artifacts/demo.png');

describe.skipIf(skipReason !== undefined)(
  skipReason ? `demo page (skipped: ${skipReason})` : 'the demo page in headless Chromium',
  () => {
    let issuer: DevIssuer;
    /** The page's origin is on the service's APP_CORS_ALLOWED_ORIGINS... */
    let allowedDemo: DemoServer;
    /** ...and this one's is not. */
    let foreignDemo: DemoServer;
    let service: RunningService;
    let browser: Browser;
    let page: Page;
    const serviceRequests: Request[] = [];
    const pageErrors: string[] = [];
    /** Every ACS token the page showed, oldest first. */
    const tokens: string[] = [];

    const text = async (testId: string) => (await page.getByTestId(testId).textContent())?.trim() ?? '';
    const state = () => page.getByTestId('status').getAttribute('data-state');
    const problemShown = async (on: Page) => ({
      visible: await on.getByTestId('error').isVisible(),
      title: (await on.getByTestId('error-title').textContent()) ?? '',
      status: (await on.getByTestId('error-status').textContent()) ?? '',
      detail: (await on.getByTestId('error-detail').textContent()) ?? '',
    });

    /** Clicks and waits until the page's action is over (the page marks itself busy while one runs). */
    async function act(on: Page, testId: string): Promise<void> {
      await on.getByTestId(testId).click();
      await on.waitForSelector('#main[aria-busy="false"]');
    }

    async function expectNoProblem(): Promise<void> {
      const shown = await problemShown(page);
      expect(shown.visible, `the page shows a problem: ${shown.title} ${shown.detail}`).toBe(false);
    }

    /** The token on the page, recorded; fails if it is not a new one. */
    async function newTokenShown(): Promise<string> {
      const token = await text('token');
      expect(token).toMatch(/^[\w-]+\.[\w-]+\.[\w-]+$/);
      expect(tokens).not.toContain(token);
      tokens.push(token);
      return token;
    }

    beforeAll(async () => {
      issuer = await startDevIssuer();
      let serviceUrl = '';
      const demoOptions = { serviceUrl: () => serviceUrl, issuerUrl: issuer.issuer };
      allowedDemo = await startDemoServer(demoOptions);
      foreignDemo = await startDemoServer(demoOptions);
      service = await startService({
        issuer,
        // Without reuse every Refresh costs an ACS call and gives a new token, which is what this test checks.
        env: { APP_CORS_ALLOWED_ORIGINS: allowedDemo.origins.join(','), TOKEN_REUSE: 'false' },
      });
      serviceUrl = service.url;

      browser = await launchBrowser();
      page = await browser.newPage();
      page.on('request', (request) => {
        if (request.url().startsWith(`${service.url}/api/`)) serviceRequests.push(request);
      });
      page.on('pageerror', (error) => pageErrors.push(error.message));
      await page.goto(allowedDemo.url);
      await page.waitForSelector('#main[aria-busy="false"]');
    });

    afterAll(async () => {
      await browser?.close();
      await service?.close();
      await foreignDemo?.close();
      await allowedDemo?.close();
      await issuer?.close();
    });

    it('signs a development user in and shows the ACS identity, scopes and a live countdown of an active token', async () => {
      await page.getByTestId('user-name').fill('alice');
      await act(page, 'sign-in');
      await expectNoProblem();

      expect(await state()).toBe('active');
      expect(await text('signed-in-user')).toBe('alice');
      const identity = await text('identity');
      expect(identity).toMatch(/^8:acs:/);
      expect(await text('scopes')).toBe('chat, voip');
      const expiresOn = Date.parse((await page.getByTestId('expires-on').getAttribute('datetime')) ?? '');
      expect(expiresOn - Date.now()).toBeGreaterThan(50 * 60_000);
      expect(expiresOn - Date.now()).toBeLessThanOrEqual(60 * 60_000);

      const countdown = page.getByTestId('countdown');
      expect(await countdown.textContent()).toMatch(/^(\d+:)?\d\d:\d\d$/);
      const secondsLeft = Number(await countdown.getAttribute('data-seconds'));
      expect(secondsLeft).toBeGreaterThan(50 * 60);
      await expect
        // The countdown ticks once a second; a loaded machine may skip a frame, so allow a few ticks.
        .poll(async () => Number(await countdown.getAttribute('data-seconds')), { timeout: 10_000 })
        .toBeLessThan(secondsLeft);

      const token = await newTokenShown();
      const introspection = await service.introspect(token);
      expect(introspection.active).toBe(true);
      expect(introspection.communicationUserId).toBe(identity);
      expect(introspection.scopes?.toSorted()).toEqual(['chat', 'voip']);
      expect((await service.mappings()).map((mapping) => mapping.communicationUserId)).toEqual([identity]);
    });

    it('gets its tokens across origins, and the service lets exactly that origin read them', async () => {
      const pageOrigin = new URL(page.url()).origin;
      const serviceOrigin = new URL(service.url).origin;
      expect(pageOrigin).not.toBe(serviceOrigin);
      expect(await text('page-origin')).toBe(pageOrigin);
      expect(await text('service-origin')).toBe(serviceOrigin);

      const tokenRequests = serviceRequests.filter((request) => request.url() === `${service.url}/api/token`);
      expect(tokenRequests.length).toBeGreaterThan(0);
      for (const request of tokenRequests) {
        expect(request.method()).toBe('POST');
        const headers = await request.allHeaders();
        expect(headers.origin).toBe(pageOrigin);
        expect(headers.authorization).toMatch(/^Bearer /);
        const response = await request.response();
        expect(response?.status()).toBe(200);
        expect(response?.headers()['access-control-allow-origin']).toBe(pageOrigin);
      }
      // The Authorization header makes the browser ask first: the service answered a preflight.
      expect(service.logs.some((record) => record.line.includes('"method":"OPTIONS"'))).toBe(true);
    });

    /** Refresh gets a new token (every ACS token is unique: its `jti`), active, of the same identity. */
    async function expectRefreshKeeps(identity: string) {
      await act(page, 'refresh');
      await expectNoProblem();
      expect(await state()).toBe('active');
      expect(await text('identity')).toBe(identity);
      const token = await newTokenShown();
      expect(await service.introspect(token)).toMatchObject({ active: true, communicationUserId: identity });
    }

    it('Refresh gets a new active token for the same identity', async () => {
      const identity = await text('identity');
      await expectRefreshKeeps(identity);
    });

    it('Revoke stops every token issued so far, and Refresh then gets an active one', async () => {
      const identity = await text('identity');
      await act(page, 'revoke');
      await expectNoProblem();
      expect(await state()).toBe('revoked');
      for (const token of tokens) expect((await service.introspect(token)).active).toBe(false);

      await expectRefreshKeeps(identity);
    });

    it('Delete erases the ACS identity, and the next token belongs to a new one', async () => {
      const oldIdentity = await text('identity');
      const lastToken = tokens.at(-1)!;
      expect(await service.emulatorIdentities()).toContain(oldIdentity);

      await act(page, 'delete');
      await expectNoProblem();
      expect(await state()).toBe('deleted');
      expect(await service.emulatorIdentities()).not.toContain(oldIdentity);
      expect((await service.introspect(lastToken)).active).toBe(false);
      expect(await service.mappings()).toEqual([]);

      await act(page, 'refresh');
      await expectNoProblem();
      expect(await state()).toBe('active');
      const newIdentity = await text('identity');
      expect(newIdentity).toMatch(/^8:acs:/);
      expect(newIdentity).not.toBe(oldIdentity);
      const token = await newTokenShown();
      expect(await service.introspect(token)).toMatchObject({
        active: true,
        communicationUserId: newIdentity,
      });
      expect(await service.emulatorIdentities()).toContain(newIdentity);

      await mkdir(path.dirname(SCREENSHOT), { recursive: true });
      await page.screenshot({ path: SCREENSHOT, fullPage: true });
    });

    it("shows the service's problem document when a request is refused, and keeps the working token", async () => {
      const token = await text('token');
      await page.getByTestId('scope-chat.join').check();
      await act(page, 'refresh');
      const shown = await problemShown(page);
      expect(shown).toMatchObject({ visible: true, title: 'The caller may not do this', status: '403' });
      expect(shown.detail).toContain('chat.join');
      expect(await text('token')).toBe(token);
      expect(await state()).toBe('active');

      await page.getByTestId('scope-chat.join').uncheck();
      await page.getByTestId('dismiss-error').click();
      await expectNoProblem();
      expect(pageErrors).toEqual([]);
    });

    it('a page on an origin the service does not allow cannot read a token', async () => {
      const foreignPage = await browser.newPage();
      try {
        const corsErrors: string[] = [];
        foreignPage.on('console', (message) => {
          if (message.type() === 'error' && message.text().includes('blocked by CORS policy')) {
            corsErrors.push(message.text());
          }
        });
        await foreignPage.goto(foreignDemo.url);
        await foreignPage.waitForSelector('#main[aria-busy="false"]');
        const before = await service.emulatorStats();

        await foreignPage.getByTestId('user-name').fill('mallory');
        await act(foreignPage, 'sign-in');
        const shown = await problemShown(foreignPage);
        expect(shown).toMatchObject({ visible: true, status: 'no answer' });
        expect(shown.detail).toContain('CORS_ALLOWED_ORIGINS');
        expect(await foreignPage.getByTestId('identity').textContent()).toBe('—');
        await expect.poll(() => corsErrors.length, { timeout: 10_000 }).toBeGreaterThan(0);

        // The same request from each page: only the allowed origin may read the answer.
        const userToken = await service.tokenFor('mallory');
        const apiUrl = `${service.url}/api/token`;
        // Runs in the page (serialised there), so it must not refer to anything outside itself.
        const readToken = async ([jwt, url]: readonly [string, string]) => {
          try {
            const response = await fetch(url, {
              method: 'POST',
              headers: { Authorization: `Bearer ${jwt}` },
            });
            return { status: response.status, body: await response.text() };
          } catch (error) {
            return { error: (error as Error).name };
          }
        };
        expect(await foreignPage.evaluate(readToken, [userToken, apiUrl] as const)).toEqual({
          error: 'TypeError',
        });
        // The preflight failed, so the service never even issued the refused page a token.
        const after = await service.emulatorStats();
        expect(after.operations.createIdentity).toBe(before.operations.createIdentity);
        expect(after.operations.issueToken).toBe(before.operations.issueToken);

        const allowed = await page.evaluate(readToken, [userToken, apiUrl] as const);
        expect(allowed).toMatchObject({ status: 200 });
      } finally {
        await foreignPage.close();
      }
    });

    /**
     * As `azd up` deploys it: the Flex Consumption host's CORS in front (dev/flex-front.ts), the page's origin in the
     * platform's CORS_ALLOWED_ORIGINS (a JSON array, as the platform writes it), no APP_CORS_ALLOWED_ORIGINS, and
     * otherwise the production defaults (token reuse on, shared through the identity store).
     */
    describe('behind the Flex Consumption front, with the settings azd up deploys', () => {
      let flexService: RunningService;
      let flexDemo: DemoServer;
      let flexPage: Page;
      const flexRequests: Request[] = [];

      beforeAll(async () => {
        let serviceUrl = '';
        flexDemo = await startDemoServer({ serviceUrl: () => serviceUrl, issuerUrl: issuer.issuer });
        flexService = await startService({
          issuer,
          env: {
            CORS_ALLOWED_ORIGINS: JSON.stringify(flexDemo.origins),
            TOKEN_REUSE: undefined,
          },
          flexFront: {},
        });
        serviceUrl = flexService.url;
        flexPage = await browser.newPage();
        flexPage.on('request', (request) => {
          if (request.url().startsWith(`${flexService.url}/api/`)) flexRequests.push(request);
        });
        await flexPage.goto(flexDemo.url);
        await flexPage.waitForSelector('#main[aria-busy="false"]');
      });
      afterAll(async () => {
        await flexPage?.close();
        await flexService?.close();
        await flexDemo?.close();
      });

      it('signs in and gets an active token across origins, the platform answering CORS and the app none of it', async () => {
        await flexPage.getByTestId('user-name').fill('flex-erin');
        await act(flexPage, 'sign-in');
        expect(await problemShown(flexPage)).toMatchObject({ visible: false });
        expect(await flexPage.getByTestId('status').getAttribute('data-state')).toBe('active');
        const token = ((await flexPage.getByTestId('token').textContent()) ?? '').trim();
        expect(await flexService.introspect(token)).toMatchObject({ active: true });

        const pageOrigin = new URL(flexPage.url()).origin;
        const tokenRequests = flexRequests.filter(
          (request) => request.url() === `${flexService.url}/api/token`,
        );
        expect(tokenRequests.length).toBeGreaterThan(0);
        for (const request of tokenRequests) {
          const response = await request.response();
          expect(response?.status()).toBe(200);
          // One Access-Control-Allow-Origin, the platform's: the app adds none for the platform's origins.
          expect(response?.headers()['access-control-allow-origin']).toBe(pageOrigin);
        }
        // The browser asked first (Authorization), and the front answered: no OPTIONS reached the app.
        expect(flexService.logs.some((record) => record.line.includes('"method":"OPTIONS"'))).toBe(false);
        expect(flexService.logs.some((record) => record.line.includes('"method":"POST"'))).toBe(true);
      });
    });

    describe('with the settings npm start uses (token reuse on)', () => {
      let reusingService: RunningService;
      let reusingDemo: DemoServer;
      let reusingPage: Page;

      beforeAll(async () => {
        let serviceUrl = '';
        reusingDemo = await startDemoServer({ serviceUrl: () => serviceUrl, issuerUrl: issuer.issuer });
        reusingService = await startService({
          issuer,
          env: {
            APP_CORS_ALLOWED_ORIGINS: reusingDemo.origins.join(','),
            TOKEN_REUSE: undefined,
          },
        });
        serviceUrl = reusingService.url;
        reusingPage = await browser.newPage();
        await reusingPage.goto(reusingDemo.url);
        await reusingPage.waitForSelector('#main[aria-busy="false"]');
      });
      afterAll(async () => {
        await reusingPage?.close();
        await reusingService?.close();
        await reusingDemo?.close();
      });

      const shownToken = async () => (await reusingPage.getByTestId('token').textContent()) ?? '';

      it('Refresh says when the service hands back its still-fresh token; after Revoke it issues a new one', async () => {
        await reusingPage.getByTestId('user-name').fill('carol');
        await act(reusingPage, 'sign-in');
        const first = await shownToken();
        expect((await reusingService.introspect(first)).active).toBe(true);

        await act(reusingPage, 'refresh');
        expect(await shownToken()).toBe(first);
        expect(await reusingPage.getByTestId('status').textContent()).toContain('handed back');
        // The first token came with the new identity (one ACS call); handing it back cost no ACS call at all.
        expect((await reusingService.emulatorStats()).operations.issueToken).toBe(0);

        await act(reusingPage, 'revoke');
        expect((await reusingService.introspect(first)).active).toBe(false);
        await act(reusingPage, 'refresh');
        const second = await shownToken();
        expect(second).not.toBe(first);
        expect((await reusingService.introspect(second)).active).toBe(true);
        expect(await reusingPage.getByTestId('status').textContent()).not.toContain('handed back');

        const identity = (await reusingPage.getByTestId('identity').textContent()) ?? '';
        await act(reusingPage, 'delete');
        await act(reusingPage, 'refresh');
        const third = await shownToken();
        expect(await reusingPage.getByTestId('identity').textContent()).not.toBe(identity);
        expect(await reusingService.introspect(third)).toMatchObject({ active: true });
        expect(await problemShown(reusingPage)).toMatchObject({ visible: false });
      });
    });
  },
);
