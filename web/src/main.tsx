import { render } from 'solid-js/web';
import { App } from './app.js';
import './ui/theme.css';
import './ui/panels.css';

const root = document.getElementById('root');
if (!root) throw new Error('The page has no #root element');
render(() => <App />, root);
