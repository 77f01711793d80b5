// Where 会聊 finds its yunqiao server.
//
// Local development (WeChat DevTools' simulator): `yunqiao serve` on this machine, and the
// server's built-in WeChat mock logs in as `mockUser`. To play a second person, open the
// project in a second DevTools window and set the storage key `huiliao.mockUser` (Storage
// panel) to another name, e.g. "bob"; `huiliao.server` and `huiliao.ws` override `baseUrl`
// and `wsUrl` the same way.
//
// Production: set baseUrl to the AWS stack's HttpApiUrl, wsUrl to its WebSocketUrl, and
// mockUser to '' (login() then uses wx.login()).
//
// thumb: the size of the pictures in the chat (a thumbnail the server makes once and
// keeps); it must be one of the server's `files.thumb_sizes` (the default is 100x100).
module.exports = {
  baseUrl: 'http://127.0.0.1:8787',
  wsUrl: '',
  mockUser: 'alice',
  thumb: '100x100',
}
