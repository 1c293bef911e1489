import { render } from 'solid-js/web';
import { z } from 'zod';
import { App } from './app.js';
import './ui/theme.css';
import './ui/panels.css';

// The page's CSP forbids eval; zod would otherwise probe `new Function` and log a violation.
z.config({ jitless: true });

const root = document.getElementById('root');
if (!root) throw new Error('The page has no #root element');
render(() => <App />, root);
