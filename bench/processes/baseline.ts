import { startTutorialBaseline } from '../baseline-tutorial.js';
import { serveFromParent } from '../lib/child.js';

export interface BaselineChildConfig {
  connectionString: string;
}

serveFromParent<BaselineChildConfig>(({ connectionString }) => startTutorialBaseline({ connectionString }));
